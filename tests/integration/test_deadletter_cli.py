"""`aftersales deadletter list|show|replay`, run as an operator runs it, against the running services."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import pytest

from shared.runtime.settings import Settings
from tests.integration.conftest import System
from tests.integration.test_hostile_door import tick
from tests.support import body, call, service_env, wait_until

pytestmark = pytest.mark.integration


async def aftersales(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "aftersales.cli", *args]
    return await asyncio.to_thread(
        subprocess.run, command, env=service_env(settings), capture_output=True, text=True, encoding="utf-8", timeout=60
    )


async def test_list_show_and_replay_a_fixed_message_registers_it_once(system: System, settings: Settings) -> None:
    await tick(system, "2026-11-23T10:00:00+08:00")
    early = call("CALL-EARLY", received_at="2026-12-21T09:00:00+08:00")  # the clock is behind: refused
    await system.bus.js.publish(system.bus.names.complaint_received, body(early), headers={"Nats-Msg-Id": "CALL-EARLY"})
    huge = body(call("CALL-HUGE", description="x" * 1_000_000))
    await system.bus.js.publish(system.bus.names.complaint_received, huge)

    async def both_dead_lettered() -> bool:
        return await system.bus.stream_count(system.bus.names.deadletter_stream) == 2

    await wait_until(both_dead_lettered, what="two dead letters")

    listed = await aftersales(settings, "deadletter", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows: list[dict[str, Any]] = json.loads(listed.stdout)
    assert [(r["seq"], r["source"], r["original_truncated"]) for r in rows] == [
        (1, "telephony", False),
        (2, "telephony", True),
    ]
    assert "`received_at` 2026-12-21T09:00:00+08:00 is more than 1 day after the service clock" in rows[0]["reason"]
    assert rows[1]["reason"] == f"message is {len(huge)} bytes; the limit is 65536"
    assert all(r["dead_lettered_at"] for r in rows)
    text = await aftersales(settings, "deadletter", "list", "--source", "telephony")
    assert "2 dead letter(s)" in text.stdout
    assert "more than 1 day after" in text.stdout
    assert (await aftersales(settings, "deadletter", "list", "--source", "reporting")).stdout.endswith(
        "0 dead letter(s)\n"
    )

    shown = await aftersales(settings, "deadletter", "show", "1")
    assert shown.returncode == 0, shown.stderr
    letter = json.loads(shown.stdout)
    assert letter["original"] == early  # decoded, in full
    assert letter["subject"] == settings.names.complaint_received
    assert letter["headers"] == {"Nats-Msg-Id": "CALL-EARLY"}

    # The fix: the service clock catches up. The same bytes are now inside the window.
    await tick(system, "2026-12-21T10:00:00+08:00")
    for _ in range(2):  # a second replay is one more delivery of the same call: still one complaint
        replayed = await aftersales(settings, "deadletter", "replay", "1")
        assert replayed.returncode == 0, replayed.stderr
        assert f"1: replayed to {settings.names.complaint_received}" in replayed.stdout

    async def registered() -> bool:
        return len(system.store.complaints_for_call("CALL-EARLY")) == 1

    await wait_until(registered, what="the replayed call in the read model")
    # Give the second replay time to be processed, then check it changed nothing.
    await wait_until(lambda: _consumed(system, 4), what="both replays consumed")
    assert len(system.store.complaints_for_call("CALL-EARLY")) == 1
    assert system.store.complaint_count() == 1
    assert await system.bus.stream_count(system.bus.names.deadletter_stream) == 2  # not dead-lettered again

    refused = await aftersales(settings, "deadletter", "replay", "2", "99")
    assert refused.returncode == 1
    assert "2: dead letter 2 keeps only part of its original" in refused.stderr
    assert "99: no dead letter 99" in refused.stderr


async def _consumed(system: System, count: int) -> bool:
    names = system.bus.names
    info = await system.bus.js.consumer_info(names.telephony_stream, names.durable("intake-telephony"))
    return int(info.ack_floor.stream_seq) >= count
