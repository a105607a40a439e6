"""A consumer of another service's events (`shared/runtime/upstream.py`, here intake reading
dispatch's repair outcomes): an event that fails alone is dead-lettered with its reason and the
position moves on; one that fails transiently is retried with backoff, a bounded number of times;
the events after it are still applied, in order, exactly once."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
from typing import Any

import msgspec
import psycopg
import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from prometheus_client import REGISTRY
from psycopg.sql import SQL, Identifier

from services.intake.domain import complaint_id_for
from shared.events import commands as cmd
from shared.events.envelope import encode_envelope
from shared.runtime import upstream
from shared.runtime.failures import MAX_DELIVERIES
from shared.runtime.store import recorder_of
from tests.integration.conftest import System
from tests.integration.test_intake_from_dispatch import outcome_envelope
from tests.support import call, wait_until

pytestmark = pytest.mark.integration

CN = dt.timezone(dt.timedelta(hours=8))


async def classified_complaint(system: System, call_id: str) -> str:
    message = call(call_id)
    message["equipment"]["acceptance_date"] = "2026-03-01"
    await system.bus.publish_call(message)

    async def registered() -> bool:
        return len(system.store.complaints_for_call(call_id)) == 1

    await wait_until(registered)
    complaint_no: str = system.store.complaints_for_call(call_id)[0]["complaint_no"]
    classify = cmd.Classify(complaint_no=complaint_no, actor=cmd.Actor("tq-1", "tq"), cause="quality", level=3,
                            on_site=True)  # fmt: skip
    await asyncio.to_thread(system.intake_app.execute, classify, dt.datetime(2026, 11, 23, 10, 0, tzinfo=CN), "test")
    return complaint_no


async def dead_letter_of(system: System) -> dict[str, Any]:
    names = system.bus.names
    sub = await system.bus.js.pull_subscribe(
        names.deadletter("intake"), durable=None, stream=names.deadletter_stream,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
    )  # fmt: skip
    letters: list[dict[str, Any]] = [json.loads(m.data) for m in await sub.fetch(1, timeout=15)]
    await sub.unsubscribe()
    (letter,) = letters
    return letter


async def dead_letter_count(system: System) -> int:
    names = system.bus.names
    try:
        info = await system.bus.js.stream_info(names.deadletter_stream, subjects_filter=names.deadletter("intake"))
    except NotFoundError:
        return 0
    return sum((info.state.subjects or {}).values())


async def publish_outcome(system: System, complaint_no: str, position: int) -> None:
    envelope = outcome_envelope(complaint_no, position, "failed")
    subject = system.bus.names.event("dispatch", "RepairOutcomeRecorded")
    await system.bus.js.publish(subject, encode_envelope(envelope), headers={"Nats-Msg-Id": str(envelope.event_id)})


async def test_an_event_that_fails_alone_is_dead_lettered_and_the_position_moves_on(system: System) -> None:
    complaint_no = await classified_complaint(system, "CALL-UPSTREAM-POISON")

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
    letter = await dead_letter_of(system)
    assert json.loads(base64.b64decode(letter["original_b64"]))["position"] == 2
    assert letter["reason"].startswith("DataError")
    view = system.store.complaint(complaint_no)
    assert view is not None
    assert [r["outcome"] for r in view["repairs"]] == ["failed", "failed"]
    recorder = recorder_of(system.intake_app)
    assert recorder.max_tracking_id("dispatch") == 3  # the position moved past the poison
    events = recorder.select_events(complaint_id_for("CALL-UPSTREAM-POISON"))
    assert sum(1 for e in events if e.topic.endswith("ReplacementDecided")) == 1


async def test_an_event_failing_transiently_is_retried_and_never_skipped(
    system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real database condition, for this consumer only: another session holds a lock on the
    consumer-position table (say a long maintenance transaction), so saving the event's outcome with
    its position hits the lock timeout (LockNotAvailable: transient). The event is retried with a
    growing delay; past MAX_DELIVERIES the consumer is reported stalled, never skips it (that would
    lose it for good), and applies it and the next one, once each, as soon as the lock is gone."""
    monkeypatch.setattr(upstream, "RETRY_BASE_S", 0.05)
    monkeypatch.setattr(upstream, "RETRY_CAP_S", 0.5)
    complaint_no = await classified_complaint(system, "CALL-UPSTREAM-TRANSIENT")
    recorder = recorder_of(system.intake_app)
    recorder.lock_timeout_ms = 200
    await publish_outcome(system, complaint_no, 1)
    await wait_until(lambda: _applied(system, 1), timeout_s=15, what="position 1 applied")

    def stalled() -> float:
        return REGISTRY.get_sample_value("aftersales_upstream_stalled_total",
                                         {"consumer": "intake", "upstream": "dispatch"}) or 0.0  # fmt: skip

    before = stalled()
    table = SQL("{0}.{1}").format(Identifier(recorder.datastore.schema), Identifier(recorder.tracking_table_name))
    with psycopg.connect(system.intake.settings.database_url) as holder:
        holder.execute(SQL("LOCK TABLE {0} IN SHARE MODE").format(table))
        await publish_outcome(system, complaint_no, 2)
        await publish_outcome(system, complaint_no, 3)

        async def reported_stalled() -> bool:
            return stalled() > before

        await wait_until(reported_stalled, timeout_s=30, what=f"stalled after {MAX_DELIVERIES} deliveries")
        assert not await _applied(system, 2)
        holder.rollback()

    await wait_until(lambda: _applied(system, 3), timeout_s=15, what="positions 2 and 3 applied once the lock is gone")
    events = recorder.select_events(complaint_id_for("CALL-UPSTREAM-TRANSIENT"))
    assert sum(1 for e in events if e.topic.endswith("RepairRecorded")) == 3  # positions 1, 2 and 3, once each
    assert await dead_letter_count(system) == 0


async def _applied(system: System, position: int) -> bool:
    return (recorder_of(system.intake_app).max_tracking_id("dispatch") or 0) >= position
