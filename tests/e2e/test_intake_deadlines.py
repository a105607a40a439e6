"""Intake end to end with the external clock: relay deadline, fine, escalation, warranty, roles."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.e2e.conftest import Running
from tests.support import call, wait_until

pytestmark = pytest.mark.e2e

AGENT = ("agent-017", "agent")
TQ = ("tq-003", "tq")


def deadline(view: dict[str, Any], rule: str) -> dict[str, Any]:
    matches: list[dict[str, Any]] = [d for d in view["deadlines"] if d["rule"] == rule]
    assert len(matches) == 1, view["deadlines"]
    return matches[0]


async def settled(running: Running, complaint_no: str, predicate: Any, what: str) -> dict[str, Any]:
    view: dict[str, Any] = {}

    async def check() -> bool:
        nonlocal view
        view = await running.complaint(complaint_no)
        return bool(predicate(view))

    await wait_until(check, timeout_s=30, interval_s=0.1, what=what)
    return view


async def test_unrelayed_complaint_is_fined_and_escalated_once_and_a_relayed_one_is_not(running: Running) -> None:
    await running.tick("2026-11-23T09:00:00+08:00")
    late = call("CALL-E2E-LATE", received_at="2026-11-23T09:15:00+08:00")  # acceptance 2025-06-01
    on_time = call("CALL-E2E-ONTIME", received_at="2026-11-23T09:20:00+08:00")
    on_time["equipment"]["acceptance_date"] = "2026-03-01"
    await running.bus.publish_call(late)
    await running.bus.publish_call(on_time)
    late_no = (await running.complaint_for_call("CALL-E2E-LATE"))["complaint_no"]
    on_time_no = (await running.complaint_for_call("CALL-E2E-ONTIME"))["complaint_no"]

    view = await running.complaint(late_no)
    assert deadline(view, "INT-RELAY-4WH")["due_at"] == "2026-11-23T13:15:00+08:00"
    assert view["warranty"]["in_warranty"] is False
    assert view["warranty"]["until"] == "2026-05-31"

    # A role that may not relay is refused with a clear reason; nothing is recorded.
    refused = await running.command(on_time_no, "relay", ("eng-1", "engineer"))
    assert refused.status_code == 403
    assert "may not Relay" in refused.json()["error"]

    await running.tick("2026-11-23T10:00:00+08:00")
    await asyncio.sleep(0.3)
    relayed = await running.command(on_time_no, "relay", AGENT)
    assert relayed.status_code == 200, relayed.text
    again = await running.command(on_time_no, "relay", AGENT)
    assert again.status_code == 409

    # Three ticks past the 13:15 deadline, with an intake restart (SIGKILL) between them.
    await running.tick("2026-11-23T13:16:00+08:00")
    await settled(running, late_no, lambda v: v["fines"], "the first breach")
    running.restart("intake")
    await running.tick("2026-11-23T14:00:00+08:00")
    await running.tick("2026-11-23T16:30:00+08:00")
    await asyncio.sleep(2.0)  # let the later ticks be processed after the restart

    view = await running.complaint(late_no)
    relay_deadline = deadline(view, "INT-RELAY-4WH")
    assert relay_deadline["breached"] is True
    assert relay_deadline["met_at"] is None
    assert [(f["rule"], f["amount_fen"], f["person"]) for f in view["fines"]] == [("FIN-RELAY-LATE", 5000, "agent-017")]
    assert [(e["rule"], e["to"]) for e in view["escalations"]] == [("INT-RELAY-4WH", "branch_manager")]

    view = await running.complaint(on_time_no)
    relay_deadline = deadline(view, "INT-RELAY-4WH")
    assert relay_deadline["met_at"] == "2026-11-23T10:00:00+08:00"
    assert relay_deadline["breached"] is False
    assert view["fines"] == []
    assert view["escalations"] == []
    assert view["warranty"]["in_warranty"] is True
    assert view["warranty"]["until"] == "2027-02-28"


async def test_classification_warranty_and_repairs_end_to_end(running: Running) -> None:
    await running.tick("2026-11-23T09:00:00+08:00")
    message = call("CALL-E2E-WAR", received_at="2026-11-23T09:05:00+08:00")
    message["equipment"] = {"serial": "QY25K-2026-00001", "model": "QY25K", "acceptance_date": None}
    await running.bus.publish_call(message)
    no = (await running.complaint_for_call("CALL-E2E-WAR"))["complaint_no"]
    view = await running.complaint(no)
    assert view["warranty"]["in_warranty"] is None  # WAR-PERIOD: unknown acceptance → undetermined

    assert (await running.command(no, "relay", AGENT)).status_code == 200
    completed = await running.command(no, "complete", AGENT, fields={"equipment.acceptance_date": "2026-01-10"})
    assert completed.status_code == 200, completed.text
    assert (await running.command(no, "classify", ("agent-017", "agent"), cause="quality", level=1,
                                  on_site=True)).status_code == 403  # fmt: skip
    classified = await running.command(no, "classify", TQ, cause="quality", level=1, on_site=True)
    assert classified.status_code == 200, classified.text
    assert "FaultClassified" in classified.json()["events"]
    contact = await running.command(no, "first-contact", ("eng-9", "engineer"), channel="phone",
                                    agreed="今天下午到现场", visit_at="2026-11-23T14:00:00+08:00")  # fmt: skip
    assert contact.status_code == 200, contact.text  # INT-LEVELS: the first response (docs/rules.md §9)
    solution = await running.command(no, "solution", TQ, solution="更换主臂伸缩油缸密封件", expected_repair_hours=30)
    assert solution.status_code == 200, solution.text
    for _ in range(2):
        repaired = await running.command(no, "repairs", ("eng-9", "engineer"), problem="主臂伸缩油缸漏油",
                                         outcome="failed", stops_work=True)  # fmt: skip
        assert repaired.status_code == 200, repaired.text

    view = await settled(running, no, lambda v: v["warranty"]["replacement"], "the replacement decision")
    assert view["warranty"]["in_warranty"] is True
    assert view["warranty"]["until"] == "2027-05-09"  # 2027-01-09 + 2 × 60 days (WAR-EXTEND-60D twice)
    assert [e["days"] for e in view["warranty"]["extensions"]] == [60, 60]
    assert view["warranty"]["payer"]["applies"] == "WAR-FREE"
    assert view["warranty"]["loaner"]["loaner"] is True
    assert view["level"] == 1
    assert {(e["rule"], e["to"]) for e in view["escalations"]} == {
        ("INT-LEVELS", "management"), ("WAR-LEMON", "management"),
    }  # fmt: skip
    first_response = deadline(view, "INT-LEVELS")
    assert first_response["due_at"] == "2026-11-23T11:05:00+08:00"
    assert first_response["met_at"] is not None
