"""The dashboard's panels (services/reporting/console/dashboard_data.py), from hand-made complaint views."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from services.reporting.console import dashboard_data as d

NOW = dt.datetime.fromisoformat("2026-11-23T12:00:00+08:00")


def view(no: str, received: str = "2026-11-23T09:00:00+08:00", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "complaint_no": no, "received_at": received, "status": "relayed", "kind": "fault",
        "equipment": {"model": "QY25K"}, "site": {"region": "四川"}, "cause": "quality", "deadlines": [],
        "surveys": [], "service_fault": None, "fines": [], "fine_reversals": None, "escalations": [], "parts": [],
    }  # fmt: skip
    return {**base, **fields}


def deadline(rule: str, due: str, *, met: str | None = None, breached: bool = False) -> dict[str, Any]:
    return {"rule": rule, "due_at": due, "met_at": met, "breached": breached, "breached_at": None}


def fine(fine_id: str, person: str | None, department: str | None, fen: int, at: str, status: str = "levied") -> Any:
    return {"fine_id": fine_id, "rule": "FIN-RELAY-LATE", "person": person, "role": "agent", "department": department,
            "amount_fen": fen, "reason": "late", "levied_at": at, "status": status}  # fmt: skip


def test_deadlines_breached_and_due_within_four_hours_by_rule_skip_met_closed_and_later() -> None:
    views = [
        view("A", deadlines=[
            deadline("INT-RELAY-4WH", "2026-11-23T11:00:00+08:00", breached=True),  # breached, open
            deadline("INT-REPLY", "2026-11-23T15:59:00+08:00"),  # due in 3 h 59 min
            deadline("DSP-ARRIVE", "2026-11-23T16:01:00+08:00"),  # beyond 4 h
        ]),
        view("B", deadlines=[
            deadline("INT-RELAY-4WH", "2026-11-23T11:30:00+08:00"),  # past due, its timer not fired yet
            deadline("INT-REPLY", "2026-11-23T13:00:00+08:00", met="2026-11-23T10:00:00+08:00"),  # met
        ]),
        view("C", status="closed", deadlines=[deadline("INT-REPLY", "2026-11-23T11:00:00+08:00", breached=True)]),
    ]  # fmt: skip
    watch = d.deadline_watch(views, NOW)
    assert watch["by_rule"] == [
        {"rule": "INT-RELAY-4WH", "breached": 2, "due_soon": 0},
        {"rule": "INT-REPLY", "breached": 0, "due_soon": 1},
    ]
    assert (watch["breached"], watch["due_soon"]) == (2, 1)
    assert [(i["complaint_no"], i["state"]) for i in watch["items"]] == [("A", "breached"), ("B", "breached"),
                                                                         ("A", "due_soon")]  # fmt: skip
    assert watch["items"][0]["due_at"] == "2026-11-23T11:00:00+08:00"
    assert watch["as_of"] == "2026-11-23T12:00:00+08:00"


def test_fines_net_of_reversals_by_person_department_and_month() -> None:
    reversal = {"fine_id": "F2", "rule": "FIN-RELAY-LATE", "person": "agent-1", "role": "agent", "department": "cc",
                "amount_fen": 5_000, "reason": "wrong", "reversed_by": "bm",
                "reversed_at": "2026-12-01T10:00:00+08:00"}  # fmt: skip
    views = [
        view("A", fines=[fine("F1", "agent-1", "cc", 5_000, "2026-11-23T20:04:00+08:00")]),
        view("B", fines=[fine("F2", "agent-1", "cc", 5_000, "2026-11-30T17:00:00Z", "reversed")],
             fine_reversals=[reversal]),
        view("C", fines=[fine("F3", None, None, 10_000, "2026-11-24T09:00:00+08:00")]),
    ]  # fmt: skip
    fines = d.fines(views)
    (agent,) = fines["by_person"]
    assert (agent["person"], agent["fines"], agent["reversals"], agent["net_fen"], agent["net_yuan"]) == (
        "agent-1", 2, 1, 5_000, "50.00")  # fmt: skip
    assert {(x["department"], x["net_fen"]) for x in fines["by_department"]} == {("cc", 5_000), ("未归属", 10_000)}
    # F2 was levied 2026-11-30 17:00 UTC, i.e. December in China; its reversal is December too.
    assert [(m["month"], m["levied_fen"], m["reversed_fen"], m["net_fen"]) for m in fines["by_month"]] == [
        ("2026-11", 15_000, 0, 15_000), ("2026-12", 5_000, 5_000, 0)]  # fmt: skip
    assert (fines["unattributed"], fines["net_fen"], fines["net_yuan"]) == (1, 15_000, "150.00")


def test_escalations_open_unacknowledged_and_overdue() -> None:
    def esc(eid: str, status: str, ack_due: str | None = None) -> dict[str, Any]:
        return {"escalation_id": eid, "rule": "DSP-ARRIVE", "to": "branch_manager", "reason": "late",
                "raised_at": "2026-11-23T02:00:00Z", "status": status, "ack_due_at": ack_due}  # fmt: skip

    views = [
        view("A", escalations=[esc("E1", "forwarded"), esc("E2", "open", "2026-11-23T11:00:00+08:00")]),
        view("B", escalations=[esc("E3", "open", "2026-11-24T11:00:00+08:00"), esc("E4", "acknowledged")]),
    ]
    result = d.escalations(views, NOW)
    assert result["by_rule"] == [{"rule": "DSP-ARRIVE", "open": 2, "acknowledged": 1, "forwarded": 1}]
    assert (result["open"], result["unacknowledged"], result["overdue"]) == (3, 2, 1)
    assert [(i["escalation_id"], i["overdue"]) for i in result["items"]] == [("E2", True), ("E3", False)]
    assert result["items"][0]["raised_at"] == "2026-11-23T10:00:00+08:00"


def test_old_parts_overdue_and_sales_or_scrap_waiting_for_approval() -> None:
    def part(pid: str, **fields: Any) -> dict[str, Any]:
        return {"part_id": pid, "status": "awaiting_hand_in", "due_date": "2026-11-30", "overdue": False,
                "delay_days": 0, "sale": None, "disposal": None, **fields}  # fmt: skip

    views = [view("A", parts=[
        part("P-late", due_date="2026-11-22"),  # due before today (2026-11-23 in China)
        part("P-flagged", overdue=True, delay_days=3),
        part("P-in", status="handed_in", due_date="2026-11-01"),
        part("P-sale", status="recovered", sale={"status": "reported", "price_fen": 800_000, "verified_by": None,
                                                 "approved_by": None, "below_floor": True}),
        part("P-sold", status="sold", sale={"status": "sold", "approved_by": "gm"}),
        part("P-scrap", status="recovered", disposal={"disposition": "destroy_local", "level": "leadership",
                                                      "total_fen": 2_000_000, "awaiting": "leadership approval (gm)"}),
        part("P-scrapped", status="disposed", disposal={"awaiting": None, "approved_by": "gm"}),
    ])]  # fmt: skip
    parts = d.old_parts(views, NOW.date())
    assert (parts["overdue"], parts["sales_awaiting"], parts["scrap_awaiting"]) == (2, 1, 1)
    assert [p["part_id"] for p in parts["overdue_items"]] == ["P-late", "P-flagged"]
    sale = parts["sales_items"][0]
    assert (sale["price_yuan"], sale["waiting_for"], sale["below_floor"]) == ("8000.00", "核实", True)
    assert parts["scrap_items"][0]["total_yuan"] == "20000.00"


def test_kpis_each_against_its_target_with_a_monthly_trend() -> None:
    arrive_on_time = deadline("DSP-ARRIVE", "2026-10-02T09:00:00+08:00", met="2026-10-02T08:00:00+08:00")
    arrive_late = deadline("DSP-ARRIVE", "2026-11-02T09:00:00+08:00", met="2026-11-02T10:00:00+08:00", breached=True)
    views = [
        view("A", received="2026-10-01T09:00:00+08:00", deadlines=[arrive_on_time],
             surveys=[{"rating": 5, "satisfied": True}]),
        view("B", received="2026-10-31T16:30:00Z", deadlines=[arrive_late],  # 2026-11-01 in China
             surveys=[{"rating": 2, "satisfied": False}], service_fault={"at_fault": True}),
    ]  # fmt: skip
    cards = {c["kpi"]: c for c in d.kpi_cards(views)}
    assert cards["service_on_time"]["label"] == "服务及时率"
    assert (cards["service_on_time"]["exact"], cards["service_on_time"]["met"]) == ("1/2", False)
    assert cards["service_at_fault"]["definition_zh"].startswith("技质部确认属服务责任")
    trend = d.kpi_trend(views)
    assert trend["months"] == ["2026-10", "2026-11"]
    on_time = trend["series"]["service_on_time"]
    assert [(p["value"], p["met"]) for p in on_time] == [(1.0, True), (0.0, False)]
    assert [p["value"] for p in trend["series"]["service_at_fault"]] == [0.0, 1.0]
    by_quarter = d.complaints_by_quarter(views)
    assert by_quarter == [{"quarter": "2026Q4", "model": "QY25K", "cause": "quality", "complaints": 2}]


def test_the_whole_dashboard_has_every_panel_even_without_complaints() -> None:
    empty = d.dashboard([], NOW)
    assert set(empty) == {"generated_at", "complaints", "kpis", "kpi_trend", "complaints_by_quarter", "deadlines",
                          "fines", "escalations", "old_parts"}  # fmt: skip
    assert [k["met"] for k in empty["kpis"]] == [None, None, None]
    assert empty["generated_at"] == "2026-11-23T12:00:00+08:00"


def test_an_answer_is_reused_only_while_the_read_model_has_not_moved(monkeypatch: Any) -> None:
    from services.reporting.console import dashboard as route

    clock = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    cache = route.AnswerCache()
    key = ("2026-11-01", "2026-12-01", None, None, None)
    cache.put(key, {"intake": 5}, {"complaints": 1})
    assert cache.get(key, {"intake": 5}, judged_now=True) == {"complaints": 1}
    assert cache.get(key, {"intake": 6}, judged_now=True) is None  # a new event: computed again
    clock[0] += route.FRESH_S + 1
    assert cache.get(key, {"intake": 5}, judged_now=True) is None  # "now" has moved on
    assert cache.get(key, {"intake": 5}, judged_now=False) == {"complaints": 1}  # a fixed as_of stays valid
    for i in range(route.CACHED):
        cache.put(("other", i), {}, {})
    assert cache.get(key, {"intake": 5}, judged_now=False) is None  # the oldest goes first
