"""The live-update stream (services/reporting/console/live.py) without a database: framing, fan-out, drops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import pytest

from services.reporting.application import change_channel
from services.reporting.console import live


def test_an_event_is_framed_as_server_sent_events_one_data_line_per_line() -> None:
    assert live.sse("change", "intake") == b"event: change\ndata: intake\n\n"
    assert live.sse("change", "a\nb") == b"event: change\ndata: a\ndata: b\n\n"
    assert live.sse("ready", "") == b"event: ready\ndata: \n\n"


def test_each_schema_has_its_own_channel_within_the_63_byte_identifier_limit() -> None:
    assert change_channel("t1") != change_channel("t2")
    assert len(change_channel("x" * 100)) == 63


async def test_every_subscriber_gets_each_change_and_a_slow_one_loses_changes_not_memory() -> None:
    feed = live.ChangeFeed("postgresql://unused", "channel")
    fast, slow = feed.subscribe(), feed.subscribe()
    for i in range(live.QUEUE_SIZE + 5):
        feed.publish(str(i))
        assert fast.get_nowait() == str(i)
    assert slow.qsize() == live.QUEUE_SIZE  # the rest dropped; the page re-fetches everything anyway
    feed.unsubscribe(slow)
    feed.publish("after")
    assert slow.qsize() == live.QUEUE_SIZE
    assert fast.get_nowait() == "after"


async def test_the_stream_says_ready_then_each_change_with_keep_alives_between(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(live, "HEARTBEAT_S", 0.05)
    feed = live.ChangeFeed("postgresql://unused", "channel")
    queue = feed.subscribe()
    stream = live._stream(feed, queue)
    assert isinstance(stream, AsyncGenerator)
    first = await anext(stream)
    assert first.startswith(b"retry: 2000\n")
    assert first.endswith(b"event: ready\ndata: \n\n")
    assert await asyncio.wait_for(anext(stream), 1) == b": keep-alive\n\n"
    feed.publish("dispatch")
    assert await asyncio.wait_for(anext(stream), 1) == b"event: change\ndata: dispatch\n\n"
    await stream.aclose()
    assert queue not in feed.subscribers  # a closed stream unsubscribes
