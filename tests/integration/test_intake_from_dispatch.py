"""Intake decides WAR-EXTEND-60D and WAR-LEMON from dispatch's repair outcomes, exactly once."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest

from services.intake.domain import complaint_id_for
from shared.events import commands as cmd
from shared.events.dispatch_events import RepairOutcomeRecorded
from shared.events.envelope import Envelope, encode_envelope, event_id_for
from tests.integration.conftest import System
from tests.support import call, wait_until, wire_event

pytestmark = pytest.mark.integration

CN = dt.timezone(dt.timedelta(hours=8))


def outcome_envelope(complaint_no: str, position: int, outcome: str) -> Envelope:

    aggregate_id = uuid.uuid5(uuid.NAMESPACE_URL, f"dispatch-case:{complaint_no}")
    data = wire_event(RepairOutcomeRecorded, complaint_no=complaint_no, serial="QY25K-2024-00871",
                      engineer_id="eng-9", problem="主臂伸缩油缸漏油", outcome=outcome, stops_work=True,
                      completed_at=dt.datetime(2026, 11, 25, 15, 0, tzinfo=CN))  # fmt: skip
    return Envelope(
        event_id=event_id_for(aggregate_id, position), type="RepairOutcomeRecorded", version=1,
        occurred_at=data.completed_at, service="dispatch", position=position, aggregate_id=aggregate_id,
        aggregate_version=position, correlation_id=complaint_no, causation_id="test",
        data=data.wire_data(),
    )  # fmt: skip


async def test_two_failed_repairs_from_dispatch_extend_twice_and_replace_once(system: System) -> None:
    message = call("CALL-DSP-1")
    message["equipment"]["acceptance_date"] = "2026-03-01"
    await system.bus.publish_call(message)

    async def registered() -> bool:
        return len(system.store.complaints_for_call("CALL-DSP-1")) == 1

    await wait_until(registered)
    complaint_no = system.store.complaints_for_call("CALL-DSP-1")[0]["complaint_no"]
    classify = cmd.Classify(complaint_no=complaint_no, actor=cmd.Actor("tq-1", "tq"), cause="quality", level=3,
                            on_site=True)  # fmt: skip
    await asyncio.to_thread(system.intake_app.execute, classify, dt.datetime(2026, 11, 23, 10, 0, tzinfo=CN), "test")
    subject = system.bus.names.event("dispatch", "RepairOutcomeRecorded")
    for position in (1, 2):
        envelope = outcome_envelope(complaint_no, position, "failed")
        await system.bus.js.publish(subject, encode_envelope(envelope), headers={"Nats-Msg-Id": str(envelope.event_id)})
    # The same outcome delivered again (a relay re-publish with another msg id) changes nothing.
    again = outcome_envelope(complaint_no, 2, "failed")
    await system.bus.js.publish(subject, encode_envelope(again), headers={"Nats-Msg-Id": "again"})

    async def replaced() -> bool:
        view = system.store.complaint(complaint_no)
        return bool(view and view["warranty"]["replacement"])

    await wait_until(replaced, timeout_s=20, what="the WAR-LEMON replacement")
    view = system.store.complaint(complaint_no)
    assert view is not None
    assert [e["days"] for e in view["warranty"]["extensions"]] == [60, 60]
    assert view["warranty"]["until"] == "2027-06-28"  # 2027-02-28 + 120 days
    assert [r["outcome"] for r in view["repairs"]] == ["failed", "failed"]
    events = system.intake_app.recorder.select_events(complaint_id_for("CALL-DSP-1"))
    assert sum(1 for e in events if e.topic.endswith("ReplacementDecided")) == 1
