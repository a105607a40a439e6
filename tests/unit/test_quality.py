"""The quality reports (docs/rules.md §6: QLT-STATS, QLT-EXTERNAL-COST, QLT-INCIDENT-CLASS), pure."""

from __future__ import annotations

from typing import Any

from services.reporting.quality import (
    external_failure_cost,
    failure_cost,
    incident_class,
    quality_incidents,
    quality_stats,
)


def view(no: str, received_at: str = "2026-11-23T09:15:00+08:00", **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "complaint_no": no, "received_at": received_at, "kind": "fault", "status": "classified",
        "equipment": {"serial": f"SN-{no}", "model": "QY25K", "acceptance_date": "2025-06-01"},
        "site": {"region": "四川"}, "cause": "quality", "dispatch": None, "parts": [], "repairs": [],
        "service_fault": None,
    }  # fmt: skip
    base.update(over)
    return base


def dispatch(claim: int = 0, collected: int = 0, approved: int | None = None, form_parts: int = 0) -> dict[str, Any]:
    return {
        "report": {"expense_claim_fen": claim, "payments_collected_fen": collected},
        "audit": None if approved is None else {"cost_approved_fen": approved},
        "form": {"parts_total_fen": form_parts},
    }


def test_the_cost_of_a_complaint_is_the_audited_service_cost_and_parts_less_collections_and_recoveries() -> None:
    claimed = view("A", dispatch=dispatch(claim=80_000, collected=10_000, form_parts=30_000))
    assert failure_cost(claimed) == {"service_fen": 80_000, "parts_fen": 30_000, "gross_fen": 110_000,
                                     "collected_fen": 10_000, "recovered_fen": 0, "net_fen": 100_000}  # fmt: skip
    parts = [
        {"total_fen": 50_000, "status": "sold", "sale": {"proceeds_fen": 2_000}, "supplier_claim": None},
        {"total_fen": 20_000, "status": "returned", "sale": None, "supplier_claim": {"recovered_fen": 15_000}},
    ]
    audited = view("B", dispatch=dispatch(claim=80_000, approved=60_000, form_parts=1), parts=parts)
    cost = failure_cost(audited)
    assert (cost["service_fen"], cost["parts_fen"], cost["recovered_fen"]) == (60_000, 70_000, 17_000)
    assert cost["net_fen"] == 60_000 + 70_000 - 17_000
    assert failure_cost(view("C"))["gross_fen"] == 0  # no dispatch, no cost


def test_external_failure_cost_goes_by_china_quarter_across_the_2026_2027_year_end() -> None:
    views = [
        view("Q4-LAST", "2026-12-31T23:59:00+08:00", dispatch=dispatch(claim=10_000)),
        # 16:30 UTC on 31 Dec is 00:30 on 1 Jan 2027 in China: the first quarter of 2027.
        view("Q1-FIRST", "2026-12-31T16:30:00+00:00", dispatch=dispatch(claim=25_050)),
        view("Q1-SECOND", "2027-03-31T23:00:00+08:00", dispatch=dispatch(claim=1, collected=2)),
        view("Q2", "2027-03-31T16:00:00Z", dispatch=dispatch(claim=100)),
    ]
    result = external_failure_cost(views)
    by_quarter = {q["quarter"]: (q["complaints"], q["net_fen"], q["net_yuan"]) for q in result["quarters"]}
    assert by_quarter == {"2026Q4": (1, 10_000, "100.00"), "2027Q1": (2, 25_049, "250.49"),
                          "2027Q2": (1, 100, "1.00")}  # fmt: skip
    assert [q["quarter"] for q in result["quarters"]] == ["2026Q4", "2027Q1", "2027Q2"]
    assert (result["total"]["complaints"], result["total"]["net_fen"]) == (4, 35_149)
    assert result["total"]["collected_yuan"] == "0.02"


def test_quality_stats_by_quarter_model_and_cause_count_units_once() -> None:
    views = [
        view("1", "2026-12-01T10:00:00+08:00"),
        view("2", "2026-12-02T10:00:00+08:00", equipment={"serial": "SN-1", "model": "QY25K"}),  # the same unit as 1
        view("3", "2026-12-03T10:00:00+08:00", cause="non_quality", service_fault={"at_fault": True}),
        view("4", "2027-01-01T00:10:00+08:00", kind="consultation", cause=None),
        view("5", "2026-12-05T10:00:00+08:00", equipment={"serial": "X", "model": "SAC1000"},
             repairs=[{"problem": "漏油"}, {"problem": "漏油"}]),
    ]  # fmt: skip
    views[0]["equipment"]["serial"] = "SN-1"
    result = quality_stats(views)
    rows = {(r["quarter"], r["model"], r["cause"]): r for r in result["rows"]}
    assert set(rows) == {("2026Q4", "QY25K", "quality"), ("2026Q4", "QY25K", "non_quality"),
                         ("2027Q1", "QY25K", "unclassified"), ("2026Q4", "SAC1000", "quality")}  # fmt: skip
    quality_row = rows[("2026Q4", "QY25K", "quality")]
    assert (quality_row["complaints"], quality_row["faults"], quality_row["returns"]) == (2, 2, 1)
    misuse = rows[("2026Q4", "QY25K", "non_quality")]
    assert (misuse["returns"], misuse["service_at_fault"]) == (0, 1)  # not a quality return
    consult = rows[("2027Q1", "QY25K", "unclassified")]
    assert (consult["consultations"], consult["faults"], consult["returns"]) == (1, 0, 0)
    assert rows[("2026Q4", "SAC1000", "quality")]["repairs"] == 2
    assert {q["quarter"]: q["complaints"] for q in result["by_quarter"]} == {"2026Q4": 4, "2027Q1": 1}
    assert {m["model"]: m["returns"] for m in result["by_model"]} == {"QY25K": 1, "SAC1000": 1}


def test_incident_class_thresholds_are_inclusive() -> None:
    assert incident_class(49, 1_999_999)[0] == "general"
    assert incident_class(50, 0) == ("batch", ["returns 50 >= 50 of one model and production date"])
    assert incident_class(499, 0)[0] == "batch"
    assert incident_class(500, 0)[0] == "major"
    assert incident_class(1, 2_000_000) == ("major", ["loss 20000.00 >= 20000.00 yuan"])
    assert len(incident_class(500, 2_000_000)[1]) == 2


def test_incidents_group_returns_by_model_and_production_date_counting_units() -> None:
    batch = [view(f"B{i:03}", equipment={"serial": f"S{i}", "model": "QY25K", "acceptance_date": "2025-06-01"})
             for i in range(50)]  # fmt: skip
    repeat = view("B-REPEAT", equipment={"serial": "S0", "model": "QY25K", "acceptance_date": "2025-06-01"})
    other_day = [view(f"D{i}", equipment={"serial": f"D{i}", "model": "QY25K", "acceptance_date": "2025-07-01"})
                 for i in range(49)]  # fmt: skip
    misuse = [
        view(
            f"M{i}",
            cause="non_quality",
            equipment={"serial": f"M{i}", "model": "QY25K", "acceptance_date": "2025-07-01"},
        )
        for i in range(5)
    ]
    costly = view("C1", equipment={"serial": "C1", "model": "SAC1000", "acceptance_date": None},
                  dispatch=dispatch(claim=1_500_000, form_parts=500_000, collected=1_000_000))  # fmt: skip
    consult = view("Q1", kind="consultation", cause=None)
    result = quality_incidents([*batch, repeat, *other_day, *misuse, costly, consult])
    classes = [
        (i["class"], i["model"], i["production_date"], i["returns"], i["complaints"]) for i in result["incidents"]
    ]
    assert classes == [
        ("major", "SAC1000", None, 1, 1),  # loss 20 000 元 before the 10 000 collected
        ("batch", "QY25K", "2025-06-01", 50, 51),  # the repeat complaint is the same unit
        ("general", "QY25K", "2025-07-01", 49, 49),  # misuse is no quality return
    ]
    assert result["counts"] == {"major": 1, "batch": 1, "general": 1}
    major = result["incidents"][0]
    assert (major["loss_fen"], major["loss_yuan"], major["complaint_nos"]) == (2_000_000, "20000.00", ["C1"])
    assert result["incidents"][1]["production_date_basis"] == "acceptance_date"


def test_the_complaint_count_is_not_converted_to_yuan() -> None:
    result = external_failure_cost([view("ONE", "2026-11-23T10:00:00+08:00", dispatch=dispatch(claim=100))])
    assert "complaints_yuan" not in result["total"]
    assert all("complaints_yuan" not in q for q in result["quarters"])
