"""Intake's first slice against real NATS JetStream and PostgreSQL."""

from __future__ import annotations

import base64
import json

import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy

from services.intake.application import IntakeApplication
from services.intake.domain import complaint_id_for
from shared.security.personal import is_sealed, reveal_with
from tests.integration.conftest import System
from tests.support import body, call, wait_until

pytestmark = pytest.mark.integration


async def test_one_call_delivered_three_times_is_one_complaint(system: System) -> None:
    """INT-DEDUP: three deliveries with different Nats-Msg-Ids (beyond JetStream's own dedup)."""
    message = call("CALL-20261123-000123")
    for n in range(3):
        await system.bus.publish_call(message, msg_id=f"delivery-{n}")
    await system.bus.publish_call(call("CALL-20261123-000124"))

    async def both_visible() -> bool:
        return system.store.complaint_count() == 2

    await wait_until(both_visible, what="two complaints in the read model")
    found = system.store.complaints_for_call("CALL-20261123-000123")
    assert len(found) == 1
    assert found[0]["complaint_no"].startswith("TS-2026-")
    name = found[0]["customer"]["name"]
    assert is_sealed(name)  # PII-SEAL: the read model holds the sealed string; the key opens it
    assert isinstance(system.intake.app, IntakeApplication)
    assert system.intake.app.keys is not None
    assert reveal_with(system.intake.app.keys, name, "tq") == "中铁十局物资公司"
    stream = system.bus.names.events_stream("intake")
    assert await system.bus.stream_count(stream) == 2  # one ComplaintReceived each, published once


async def test_duplicate_after_the_dedup_window_is_still_one_complaint(system: System) -> None:
    """INT-DEDUP holds forever: the call id is the aggregate identity, not a broker window."""
    message = call("CALL-late-duplicate")
    await system.bus.publish_call(message)

    async def registered() -> bool:
        return system.store.complaint_count() == 1

    await wait_until(registered)
    # A redelivery much later (different msg id, as after the 2-minute window) changes nothing.
    await system.bus.publish_call(message, msg_id="much-later")
    await system.bus.publish_call(call("CALL-after"))

    async def after_visible() -> bool:
        return system.store.complaint_count() == 2

    await wait_until(after_visible)
    assert len(system.store.complaints_for_call("CALL-late-duplicate")) == 1
    recorder = system.intake.app.recorder if system.intake.app else None
    assert recorder is not None
    events = recorder.select_events(complaint_id_for("CALL-late-duplicate"))
    assert len(events) == 1


async def test_poison_messages_are_dead_lettered_and_the_next_message_still_processed(system: System) -> None:
    bad = [
        (b"{not json", "not valid JSON"),
        (body({**call("CALL-X"), "schema": "ComplaintReceived/9"}), "unknown schema"),
        (body({k: v for k, v in call("CALL-Y").items() if k != "call_id"}), "missing required field `call_id`"),
        (body(call("CALL-Z", received_at="2026-11-23T09:15:00")), "UTC offset"),
    ]
    for raw, _ in bad:
        await system.bus.publish_call(raw)
    await system.bus.publish_call(call("CALL-GOOD"))

    async def good_visible() -> bool:
        return len(system.store.complaints_for_call("CALL-GOOD")) == 1

    await wait_until(good_visible, what="the valid message after the poison ones")
    names = system.bus.names
    sub = await system.bus.js.pull_subscribe(
        names.deadletter("telephony"),
        durable=None,
        stream=names.deadletter_stream,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
    )
    msgs = await sub.fetch(len(bad), timeout=5)
    assert len(msgs) == len(bad)
    for msg, (raw, reason) in zip(msgs, bad, strict=True):
        letter = json.loads(msg.data)
        assert base64.b64decode(letter["original_b64"]) == raw  # original bytes kept
        assert reason in letter["reason"]
        assert letter["subject"] == names.complaint_received
        assert msg.headers is not None
        assert reason.split("`")[0] in msg.headers["Aftersales-Reason"]
    assert system.store.complaint_count() == 1


async def test_incomplete_record_is_kept_and_flagged(system: System) -> None:
    """INT-REQUIRED: a message missing business fields is kept, flagged `record_incomplete`."""
    message = call("CALL-INCOMPLETE", customer={"name": "某公司"}, site={"region": "四川"})
    message["equipment"] = {"serial": None, "model": "QY25K", "acceptance_date": None}
    await system.bus.publish_call(message)

    async def visible() -> bool:
        return len(system.store.complaints_for_call("CALL-INCOMPLETE")) == 1

    await wait_until(visible)
    view = system.store.complaints_for_call("CALL-INCOMPLETE")[0]
    assert view["record_incomplete"] is True
    assert view["missing_fields"] == ["customer.phone", "equipment.serial", "site.distance_km"]
