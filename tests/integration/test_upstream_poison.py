"""A consumer of another service's events (`shared/runtime/upstream.py`, here intake reading
dispatch's repair outcomes): an event that fails alone is dead-lettered with its reason and the
position moves on; the events after it are still applied, in order, exactly once."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json

import msgspec
import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy

from services.intake.domain import complaint_id_for
from shared.events import commands as cmd
from shared.events.envelope import encode_envelope
from tests.integration.conftest import System
from tests.integration.test_intake_from_dispatch import outcome_envelope
from tests.support import call, wait_until

pytestmark = pytest.mark.integration

CN = dt.timezone(dt.timedelta(hours=8))


async def test_an_event_that_fails_alone_is_dead_lettered_and_the_position_moves_on(system: System) -> None:
    message = call("CALL-UPSTREAM-POISON")
    message["equipment"]["acceptance_date"] = "2026-03-01"
    await system.bus.publish_call(message)

    async def registered() -> bool:
        return len(system.store.complaints_for_call("CALL-UPSTREAM-POISON")) == 1

    await wait_until(registered)
    complaint_no = system.store.complaints_for_call("CALL-UPSTREAM-POISON")[0]["complaint_no"]
    assert system.intake.app is not None
    classify = cmd.Classify(complaint_no=complaint_no, actor=cmd.Actor("tq-1", "tq"), cause="quality", level=3,
                            on_site=True)  # fmt: skip
    await asyncio.to_thread(system.intake.app.execute, classify, dt.datetime(2026, 11, 23, 10, 0, tzinfo=CN), "test")

    subject = system.bus.names.event("dispatch", "RepairOutcomeRecorded")
    for position in (1, 2, 3):
        envelope = outcome_envelope(complaint_no, position, "failed")
        if position == 2:
            # A producer's slip that decodes fine but that the database refuses: a NUL character in
            # the complaint number (DataError, nobody planned for it).
            data = {**envelope.data, "complaint_no": complaint_no + "\u0000"}
            envelope = msgspec.structs.replace(envelope, data=data)
        await system.bus.js.publish(subject, encode_envelope(envelope), headers={"Nats-Msg-Id": str(envelope.event_id)})

    async def replaced() -> bool:
        view = system.store.complaint(complaint_no)
        return bool(view and view["warranty"]["replacement"])

    await wait_until(replaced, timeout_s=20, what="positions 1 and 3 applied around the poison")
    names = system.bus.names
    sub = await system.bus.js.pull_subscribe(
        names.deadletter("intake"), durable=None, stream=names.deadletter_stream,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
    )  # fmt: skip
    (letter,) = [json.loads(m.data) for m in await sub.fetch(1, timeout=10)]
    assert json.loads(base64.b64decode(letter["original_b64"]))["position"] == 2
    assert letter["reason"].startswith("DataError")
    view = system.store.complaint(complaint_no)
    assert view is not None
    assert [r["outcome"] for r in view["repairs"]] == ["failed", "failed"]
    recorder = system.intake.app.recorder
    assert recorder.max_tracking_id("dispatch") == 3  # the position moved past the poison
    events = recorder.select_events(complaint_id_for("CALL-UPSTREAM-POISON"))
    assert sum(1 for e in events if e.topic.endswith("ReplacementDecided")) == 1
