"""The relay never hangs on the broker: a refused chain makes it resynchronise and carry on."""

from __future__ import annotations

import time

import pytest

from tests.integration.conftest import System
from tests.support import call, wait_until

pytestmark = pytest.mark.integration


async def our_positions(system: System) -> list[int]:
    """`Aftersales-Position` of every relay message on intake's stream, in stream order."""
    stream = system.bus.names.events_stream("intake")
    info = await system.bus.js.stream_info(stream)
    positions = []
    for seq in range(1, info.state.last_seq + 1):
        msg = await system.bus.js.get_msg(stream, seq=seq)
        if msg.headers and "Aftersales-Position" in msg.headers:
            positions.append(int(msg.headers["Aftersales-Position"]))
    return positions


async def test_foreign_message_on_the_stream_makes_the_relay_resync_and_later_events_arrive(system: System) -> None:
    relay = system.intake.relay
    assert relay is not None
    stream = system.bus.names.events_stream("intake")
    for n in range(20):
        await system.bus.publish_call(call(f"CALL-before-{n}"))

    async def first_published() -> bool:
        return await system.bus.stream_count(stream) == 20

    await wait_until(first_published, timeout_s=30, what="20 events on intake's stream")
    # Someone else publishes on the service's stream: the relay's chain (expected last msg id) breaks.
    await system.bus.js.publish(system.bus.names.event("intake", "Foreign"), b"{}", headers={"Nats-Msg-Id": "x"})
    resyncs_before = relay.resyncs
    started = time.monotonic()
    for n in range(20):
        await system.bus.publish_call(call(f"CALL-after-{n}"))

    async def later_published() -> bool:
        return await system.bus.stream_count(stream) == 41

    await wait_until(later_published, timeout_s=30, what="the 20 later events on intake's stream")
    print(f"relay resynchronised and published the later events in {time.monotonic() - started:.2f} s")
    assert relay.resyncs > resyncs_before
    recorder = system.intake.app.recorder if system.intake.app else None
    assert recorder is not None
    stored = [n.id for n in recorder.select_notifications(start=1, limit=1000)]
    assert await our_positions(system) == stored  # each event once, in order, around the foreign one
    assert len(stored) == 40

    async def all_visible() -> bool:
        return system.store.complaint_count() == 40

    await wait_until(all_visible, timeout_s=30, what="40 complaints in the read model")
