"""The work queue (services/reporting/queue.py) as pure functions of complaint views."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from services.reporting.queue import CHINA, Item, items, queue, summary

NOW = dt.datetime(2026, 11, 27, 16, 0, tzinfo=CHINA)


def view(no: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "complaint_no": no, "status": "registered", "kind": "fault", "agent_id": "agent-017",
        "customer": {"name": "中铁十局物资公司"}, "equipment": {"model": "QY25K"}, "site": {"region": "四川"},
        "relayed_at": None, "record_incomplete": False, "missing_fields": [], "cause": None, "solution": None,
        "answer": None, "deadlines": [], "dispatch": None, "parts": [], "fines": [], "escalations": [],
    }  # fmt: skip
    base.update(fields)
    return base


def deadline(rule: str, due_at: str, breached: bool = False, met_at: str | None = None) -> dict[str, Any]:
    return {"rule": rule, "due_at": due_at, "met_at": met_at, "breached": breached, "breached_at": None}


def kinds(found: list[Item]) -> list[tuple[str, str, str | None, bool]]:
    return [(i.kind, i.complaint_no, i.due_at, i.overdue) for i in found]


def test_an_agents_relays_come_by_due_time_the_breached_marked_overdue_the_undated_last() -> None:
    views = [
        view("TS-3", deadlines=[deadline("INT-RELAY-4WH", "2026-11-30T09:30:00+08:00")]),
        view("TS-1", deadlines=[deadline("INT-RELAY-4WH", "2026-11-26T16:30:00+08:00", breached=True)]),
        view("TS-2", record_incomplete=True, missing_fields=["equipment.acceptance_date"]),
        view("TS-4", relayed_at="2026-11-27T10:00:00+08:00",
             deadlines=[deadline("INT-RELAY-4WH", "2026-11-27T14:00:00+08:00", met_at="2026-11-27T10:00:00+08:00")]),
    ]  # fmt: skip
    found = queue(views, "agent", None, NOW)
    assert kinds(found) == [
        ("relay", "TS-1", "2026-11-26T16:30:00+08:00", True),
        ("relay", "TS-3", "2026-11-30T09:30:00+08:00", False),
        ("complete_record", "TS-2", None, False),
    ]
    assert found[2].detail == "缺：equipment.acceptance_date"
    assert found[0].title == "转交技质部"
    assert found[0].rule == "INT-RELAY-4WH"
    assert (found[0].customer, found[0].detail) == ("中铁十局物资公司", "QY25K · 四川")  # the API masks the name


def test_a_passed_due_time_is_overdue_even_before_the_service_said_so() -> None:
    (item,) = queue([view("TS-1", deadlines=[deadline("INT-RELAY-4WH", "2026-11-27T15:59:00+08:00")])],
                    "agent", None, NOW)  # fmt: skip
    assert item.overdue
    (item,) = queue([view("TS-1", deadlines=[deadline("INT-RELAY-4WH", "2026-11-27T16:00:00+08:00")])],
                    "agent", None, NOW)  # fmt: skip
    assert not item.overdue  # due exactly now: not yet late


def test_times_are_given_in_china_time_whatever_offset_they_were_stored_with() -> None:
    (item,) = queue([view("TS-1", deadlines=[deadline("INT-RELAY-4WH", "2026-11-30T01:30:00+00:00")])],
                    "agent", None, NOW)  # fmt: skip
    assert item.due_at == "2026-11-30T09:30:00+08:00"
    with pytest.raises(ValueError, match="offset"):
        queue([view("TS-1", deadlines=[deadline("INT-RELAY-4WH", "2026-11-30T01:30:00")])], "agent", None, NOW)


def test_a_person_sees_their_own_work_and_their_roles_unassigned_work_not_a_colleagues() -> None:
    views = [
        view("TS-1", deadlines=[deadline("INT-RELAY-4WH", "2026-11-30T09:30:00+08:00")]),
        view("TS-2", agent_id="agent-021", deadlines=[deadline("INT-RELAY-4WH", "2026-11-30T10:30:00+08:00")]),
    ]
    assert [i.complaint_no for i in queue(views, "agent", "agent-017", NOW)] == ["TS-1"]
    assert [i.complaint_no for i in queue(views, "agent", "agent-021", NOW)] == ["TS-2"]
    reply = [deadline("INT-REPLY-8WH", "2026-11-30T09:00:00+08:00")]
    unclassified = view("TS-5", relayed_at="2026-11-27T10:00:00+08:00", deadlines=reply)
    (classify,) = queue([unclassified], "tq", "tq-003", NOW)
    assert (classify.kind, classify.person, classify.due_at) == ("classify", None, "2026-11-30T09:00:00+08:00")


def test_technical_quality_classifies_then_decides_the_solution_and_answers_consultations() -> None:
    reply = [deadline("INT-REPLY-8WH", "2026-11-30T09:00:00+08:00", breached=False)]
    views = [
        view("TS-1", relayed_at="x", deadlines=reply),
        view("TS-2", relayed_at="x", deadlines=reply, cause="quality", level=3),
        view("TS-3", relayed_at="x", deadlines=reply, kind="consultation"),
        view("TS-4", relayed_at="x", deadlines=reply, cause="quality", solution="更换密封件"),
        view("TS-5", relayed_at="x", deadlines=reply, status="closed"),
    ]
    assert [(i.kind, i.complaint_no) for i in queue(views, "tq", None, NOW)] == [
        ("classify", "TS-1"), ("solution", "TS-2"), ("answer", "TS-3"),
    ]  # fmt: skip


def dispatched(**fields: Any) -> dict[str, Any]:
    dispatch: dict[str, Any] = {
        "status": "dispatched", "engineer": {"id": "eng-cq-1", "region": "重庆"}, "form": None, "auditor": None,
        "return": {"approved_at": None, "returned_at": None}, "followups": [],
    }  # fmt: skip
    dispatch.update(fields)
    return dispatch


def test_the_engineer_arrives_reports_and_hands_in_old_parts_by_their_due_date() -> None:
    part = {"part_id": "P1", "material_code": "M-SEAL-25", "quantity": 2, "description": "密封件",
            "status": "awaiting_hand_in", "due_date": "2026-11-30", "responsible_engineer": "eng-cq-1"}  # fmt: skip
    late_part = {**part, "part_id": "P0", "due_date": "2026-11-24", "overdue": True}
    views = [
        view("TS-1", relayed_at="x", cause="quality", solution="s", dispatch=dispatched(),
             deadlines=[deadline("DSP-ARRIVE", "2026-11-25T09:40:00+08:00", breached=True)]),
        view("TS-2", relayed_at="x", cause="quality", solution="s", parts=[part, late_part],
             dispatch=dispatched(status="returned", form={"engineer_id": "eng-cq-1"},
                                 **{"return": {"approved_at": "a", "returned_at": "b"}}),
             deadlines=[deadline("DSP-REPORT-3WD", "2026-11-30T17:00:00+08:00")]),
    ]  # fmt: skip
    found = queue(views, "engineer", "eng-cq-1", NOW)
    assert kinds(found) == [
        ("hand_in", "TS-2", "2026-11-24T23:59:59+08:00", True),
        ("arrive", "TS-1", "2026-11-25T09:40:00+08:00", True),
        ("report", "TS-2", "2026-11-30T17:00:00+08:00", False),
        ("hand_in", "TS-2", "2026-11-30T23:59:59+08:00", False),
    ]
    assert found[0].all_day
    assert found[0].part_id == "P0"
    assert found[0].detail == "M-SEAL-25 × 2（密封件）"
    assert queue(views, "engineer", "eng-sc-1", NOW) == []


def test_approvals_wait_for_the_role_that_may_give_them() -> None:
    fee_escalation = {"escalation_id": "E1", "rule": "DSP-FEE-CONSENT", "to": "deputy_gm", "status": "open"}
    part = {"part_id": "P1", "material_code": "M", "quantity": 1, "status": "recovered", "disposition": "sell_local",
            "sale": {"status": "reported", "below_floor": True, "verified_by": "opo-1", "approved_by": None},
            "disposal": None}  # fmt: skip
    scrap = {**part, "part_id": "P2", "sale": None,
             "disposal": {"level": "department", "awaiting": "department approval (old_parts_officer)",
                          "approved_by": None}}  # fmt: skip
    views = [
        view("TS-1", relayed_at="x", cause="quality", solution="s", escalations=[fee_escalation],
             dispatch=dispatched(status="awaiting_deputy_gm", engineer=None)),
        view("TS-2", status="closed", parts=[part, scrap]),
        view("TS-3", relayed_at="x", cause="quality", solution="s",
             dispatch=dispatched(status="on_site", form={"engineer_id": "eng-cq-1"})),
    ]  # fmt: skip
    assert [(i.kind, i.complaint_no) for i in queue(views, "deputy_gm", None, NOW)] == [("approve_dispatch", "TS-1")]
    assert [(i.kind, i.part_id) for i in queue(views, "gm", None, NOW)] == [("approve_sale", "P1")]
    assert [(i.kind, i.part_id) for i in queue(views, "old_parts_officer", None, NOW)] == [("approve_disposal", "P2")]
    assert [i.kind for i in queue(views, "tq", None, NOW)] == ["approve_return"]


def test_escalations_disputes_and_unattributed_fines_wait_for_managers_even_on_a_closed_complaint() -> None:
    escalations = [
        {"escalation_id": "E1", "rule": "DSP-ARRIVE", "to": "branch_manager", "status": "forwarded"},
        {"escalation_id": "E2", "rule": "DSP-ARRIVE", "to": "management", "status": "open"},
        {"escalation_id": "E3", "rule": "INT-LEVELS", "to": "branch_manager", "status": "open",
         "ack_due_at": "2026-11-28T09:00:00+08:00"},
    ]  # fmt: skip
    fines = [
        {"fine_id": "F1", "rule": "FIN-RELAY-LATE", "amount_yuan": "50.00", "person": "agent-017",
         "status": "disputed", "dispute_reason": "系统故障"},
        {"fine_id": "F2", "rule": "FIN-RELAY-LATE", "amount_yuan": "50.00", "person": None, "status": "levied",
         "unattributed": True},
        {"fine_id": "F3", "rule": "FIN-RELAY-LATE", "amount_yuan": "50.00", "person": "x", "status": "reversed"},
    ]  # fmt: skip
    views = [view("TS-1", status="closed", escalations=escalations, fines=fines)]
    manager = queue(views, "branch_manager", "bm-1", NOW)
    assert [(i.kind, i.rule, i.due_at) for i in manager] == [
        ("acknowledge", "INT-LEVELS", "2026-11-28T09:00:00+08:00"),
        ("decide_dispute", "FIN-RELAY-LATE", None),
        ("attribute_fine", "FIN-RELAY-LATE", None),
    ]
    assert manager[1].detail == "FIN-RELAY-LATE 50.00 元，agent-017：系统故障"
    assert [i.rule for i in queue(views, "gm", None, NOW)] == ["DSP-ARRIVE"]
    assert [i.rule for i in queue(views, "deputy_gm", None, NOW)] == ["DSP-ARRIVE"]


def test_ops_see_every_piece_of_work_once_and_a_void_number_none() -> None:
    views = [
        view("TS-1", deadlines=[deadline("INT-LEVELS", "2026-11-28T10:00:00+08:00"),
                                deadline("INT-RELAY-4WH", "2026-11-27T13:00:00+08:00", breached=True)]),
        view("TS-2", status="void", deadlines=[deadline("INT-RELAY-4WH", "2026-11-27T13:00:00+08:00")]),
    ]  # fmt: skip
    assert [(i.kind, i.complaint_no) for i in queue(views, "ops", None, NOW)] == [
        ("relay", "TS-1"), ("first_contact", "TS-1"), ("classify", "TS-1"),
    ]  # fmt: skip
    assert items(views[1], NOW) == []
    body = summary(queue(views, "ops", None, NOW), "ops", None, NOW)
    assert (body["count"], body["overdue"], body["now"], body["role_label"]) == (
        3, 1, "2026-11-27T16:00:00+08:00", "运维/审计",
    )  # fmt: skip
    assert body["items"][0]["due_at"] == "2026-11-27T13:00:00+08:00"


def request_with(principal: Any) -> Any:
    from types import SimpleNamespace

    return SimpleNamespace(state=SimpleNamespace(**({} if principal is None else {"principal": principal})))


def test_whose_queue_the_principals_own_else_the_query_and_ops_may_choose() -> None:
    from types import SimpleNamespace

    from fastapi import HTTPException

    from services.reporting.api_queue import whose

    engineer = SimpleNamespace(id="eng-sc-1", role="engineer")
    assert whose(request_with(engineer), "gm", "gm-1") == ("engineer", "eng-sc-1")  # not someone else's
    assert whose(request_with(None), "gm", "gm-1") == ("gm", "gm-1")
    assert whose(request_with(None), "agent", "") == ("agent", None)
    auditor = SimpleNamespace(id="ops-1", role="ops")
    assert whose(request_with(auditor), "tq", None) == ("tq", None)
    assert whose(request_with(auditor), None, None) == ("ops", None)
    with pytest.raises(HTTPException) as refused:
        whose(request_with(None), None, None)
    assert refused.value.status_code == 422


def test_the_page_writes_times_as_people_read_them_in_china_time() -> None:
    from services.reporting.console.queue import when

    assert when("2026-11-27T08:00:00+00:00") == "2026-11-27 16:00"
    assert when("2026-11-30T23:59:59+08:00", all_day=True) == "2026-11-30（当天）"
