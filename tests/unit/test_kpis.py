"""Service KPIs of docs/rules.md §6 computed from complaint views."""

from __future__ import annotations

from typing import Any

import pytest

from services.reporting.kpis import TARGETS, compute, verdict


def view(
    n: int,
    *,
    arrive: str | None = None,
    ratings: tuple[int, ...] = (),
    fine: str | None = None,
    service_fault: bool | None = None,
    arrivals: tuple[int, int] | None = None,
    model: str = "QY25K",
    cause: str | None = "quality",
    received: str = "2026-11-23T09:00:00+08:00",
) -> dict[str, Any]:
    deadlines = []
    if arrivals is not None:  # many arrivals in one view: (on time, late)
        on_time, late = arrivals
        deadlines = [{"rule": "DSP-ARRIVE", "met_at": "y", "breached": False}] * on_time + [
            {"rule": "DSP-ARRIVE", "met_at": "y", "breached": True}
        ] * late
    elif arrive is not None:
        deadlines.append({"rule": "DSP-ARRIVE", "due_at": "x", "met_at": "y" if arrive != "open" else None,
                          "breached": arrive == "late"})  # fmt: skip
    return {
        "received_at": received,
        "deadlines": deadlines,
        "surveys": [{"rating": r, "satisfied": r >= 4} for r in ratings],
        "fines": [] if fine is None else [{"rule": "FIN-RELAY-LATE", "status": fine}],
        "equipment": {"model": model},
        "cause": cause,
        "service_fault": None if service_fault is None else {"at_fault": service_fault, "ground": "late"},
    }


def kpi(result: dict[str, Any], name: str) -> dict[str, Any]:
    return next(k for k in result["kpis"] if k["kpi"] == name)


def test_service_on_time_counts_arrivals_due_and_the_90_percent_boundary() -> None:
    views = [view(n, arrive="on_time") for n in range(9)] + [view(9, arrive="late"), view(10, arrive="open"), view(11)]
    on_time = kpi(compute(views), "service_on_time")
    assert (on_time["numerator"], on_time["denominator"], on_time["value"]) == (9, 10, 0.9)
    assert on_time["met"] is True  # exactly 90 % meets "≥ 90 %"
    below = kpi(compute([*views, view(12, arrive="late")]), "service_on_time")
    assert below["met"] is False


def test_satisfaction_counts_4_and_5_as_satisfied() -> None:
    result = kpi(compute([view(0, ratings=(5, 4, 3)), view(1, ratings=(2,))]), "customer_satisfaction")
    assert (result["numerator"], result["denominator"], result["met"]) == (2, 4, False)


def test_service_at_fault_counts_tq_confirmations_and_needs_under_3_percent() -> None:
    # 004 §3.2.1 用户抱怨率（确属服务责任的）< 3 %: confirmed service-at-fault complaints / all complaints.
    views = [view(n) for n in range(97)] + [
        view(97, service_fault=True),
        view(98, service_fault=False),  # investigated: not the service's fault
        view(99, service_fault=True),
    ]
    result = kpi(compute(views), "service_at_fault")
    assert (result["numerator"], result["denominator"], result["value"], result["met"]) == (2, 100, 0.02, True)
    three = kpi(compute([*views[:98], view(98, service_fault=True), view(99, service_fault=True)]), "service_at_fault")
    assert (three["value"], three["met"]) == (0.03, False)  # exactly 3 % misses "< 3 %"


def test_fines_are_not_complaints_about_the_service() -> None:
    # docs/rules.md §9: a fine, standing or not, is no confirmation that the service was at fault.
    views = [view(0, fine="levied"), view(1, fine="disputed"), view(2, fine="reversed"), view(3)]
    result = kpi(compute(views), "service_at_fault")
    assert (result["numerator"], result["denominator"], result["met"]) == (0, 4, True)


@pytest.mark.parametrize(
    ("name", "numerator", "denominator", "met"),
    [
        ("service_on_time", 89_999, 100_000, False),  # 0.89999 would round to 0.9
        ("service_on_time", 90_000, 100_000, True),
        ("service_on_time", 9, 10, True),
        ("customer_satisfaction", 84_999_999, 100_000_000, False),
        ("customer_satisfaction", 17, 20, True),
        ("service_at_fault", 3_000, 100_000, False),
        ("service_at_fault", 2_999_999, 100_000_000, True),
        ("service_at_fault", 1, 33, False),  # 3.03 %
        ("service_at_fault", 1, 34, True),  # 2.94 %
    ],
)
def test_kpi_verdicts_are_exact(name: str, numerator: int, denominator: int, met: bool) -> None:
    op, target = TARGETS[name]
    assert verdict(op, numerator, denominator, target) is met


def test_89999_of_100000_arrivals_on_time_is_not_90_percent() -> None:
    views = [view(0, arrive="on_time", arrivals=(89_999, 10_001))]
    on_time = kpi(compute(views), "service_on_time")
    assert (on_time["numerator"], on_time["denominator"], on_time["met"]) == (89_999, 100_000, False)
    assert on_time["exact"] == "89999/100000"
    assert on_time["value"] < 0.9


def test_no_data_is_no_verdict() -> None:
    result = compute([])
    assert all(k["value"] is None and k["met"] is None for k in result["kpis"])


def test_quarters_by_model_and_cause_in_china_time() -> None:
    result = compute([
        view(0, received="2026-12-31T17:00:00+00:00"),  # already 2027-01-01 in Shanghai
        view(1, model="ZTC800", cause=None, received="2026-10-01T08:00:00+08:00"),
        view(2, received="2026-11-02T08:00:00+08:00"),
    ])  # fmt: skip
    assert result["by_quarter"] == [
        {"quarter": "2026Q4", "model": "QY25K", "cause": "quality", "complaints": 1},
        {"quarter": "2026Q4", "model": "ZTC800", "cause": "unclassified", "complaints": 1},
        {"quarter": "2027Q1", "model": "QY25K", "cause": "quality", "complaints": 1},
    ]
