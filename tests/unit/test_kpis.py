"""Service KPIs of docs/rules.md §6 computed from complaint views."""

from __future__ import annotations

from typing import Any

from services.reporting.kpis import compute


def view(
    n: int,
    *,
    arrive: str | None = None,
    ratings: tuple[int, ...] = (),
    fine: str | None = None,
    model: str = "QY25K",
    cause: str | None = "quality",
    received: str = "2026-11-23T09:00:00+08:00",
) -> dict[str, Any]:
    deadlines = []
    if arrive is not None:
        deadlines.append({"rule": "DSP-ARRIVE", "due_at": "x", "met_at": "y" if arrive != "open" else None,
                          "breached": arrive == "late"})  # fmt: skip
    return {
        "received_at": received,
        "deadlines": deadlines,
        "surveys": [{"rating": r, "satisfied": r >= 4} for r in ratings],
        "fines": [] if fine is None else [{"rule": "FIN-RELAY-LATE", "status": fine}],
        "equipment": {"model": model},
        "cause": cause,
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


def test_service_at_fault_ignores_reversed_fines_and_needs_under_3_percent() -> None:
    views = [view(n) for n in range(97)] + [
        view(97, fine="levied"),
        view(98, fine="disputed"),
        view(99, fine="reversed"),
    ]
    result = kpi(compute(views), "service_at_fault")
    assert (result["numerator"], result["denominator"], result["value"], result["met"]) == (2, 100, 0.02, True)
    three = kpi(compute([*views[:97], view(97, fine="levied"), view(98, fine="levied"), view(99, fine="levied")]),
                "service_at_fault")  # fmt: skip
    assert (three["value"], three["met"]) == (0.03, False)  # exactly 3 % misses "< 3 %"


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
