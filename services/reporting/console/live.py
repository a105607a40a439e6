"""Live updates: `GET /api/v1/events/stream`, server-sent events fed by PostgreSQL LISTEN/NOTIFY.

The reporting projection notifies `change_channel(schema)` in the transaction that applies a batch
(`change_channel` in application.py), so a notification arrives when the read model already shows the change. One
listening connection per api process fans each notification out to every open stream; a stream
whose reader is slow loses notifications, not memory (a page re-fetches everything on the next one).
When the listening connection drops (PostgreSQL restarted), it reconnects with backoff and sends a
`change` with data `listening`, so pages re-fetch what they may have missed.

A browser opens the stream with `EventSource`, which sends no custom headers: authentication has to
accept the page's cookie (or its session) on this route.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import psycopg
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from psycopg.sql import SQL, Identifier

from services.reporting.application import change_channel

log = structlog.get_logger()
HEARTBEAT_S = 15.0
RETRY_MS = 2000
QUEUE_SIZE = 16
RECONNECT_S = (0.5, 1.0, 2.0, 5.0)


def sse(event: str, data: str) -> bytes:
    lines = "".join(f"data: {line}\n" for line in data.splitlines() or [""])
    return f"event: {event}\n{lines}\n".encode()


class ChangeFeed:
    """Listens on one channel and hands each notification's payload to every subscriber's queue."""

    def __init__(self, database_url: str, channel: str) -> None:
        self.database_url = database_url
        self.channel = channel
        self.subscribers: set[asyncio.Queue[str]] = set()
        self.listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="console-change-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def subscribe(self) -> asyncio.Queue[str]:
        queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)
        self.subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[str]) -> None:
        self.subscribers.discard(queue)

    def publish(self, payload: str) -> None:
        for queue in list(self.subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(payload)

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.database_url, autocommit=True, connect_timeout=5
                ) as conn:
                    await conn.execute(SQL("LISTEN {0}").format(Identifier(self.channel)))
                    self.listening.set()
                    attempt = 0
                    self.publish("listening")  # what happened while not listening is shown by a re-fetch
                    async for notify in conn.notifies():
                        self.publish(notify.payload)
            except (psycopg.Error, OSError) as exc:
                self.listening.clear()
                delay = RECONNECT_S[min(attempt, len(RECONNECT_S) - 1)]
                attempt += 1
                log.info("console_change_feed_retry", error=repr(exc), retry_in_s=delay)
                await asyncio.sleep(delay)


async def start(app: FastAPI, database_url: str, schema: str) -> None:
    """Called from the api's lifespan once the store is open."""
    app.state.change_feed = ChangeFeed(database_url, change_channel(schema))
    app.state.change_feed.start()


async def stop(app: FastAPI) -> None:
    feed: ChangeFeed | None = getattr(app.state, "change_feed", None)
    if feed is not None:
        await feed.stop()


async def _stream(feed: ChangeFeed, queue: asyncio.Queue[str]) -> AsyncIterator[bytes]:
    try:
        yield f"retry: {RETRY_MS}\n".encode() + sse("ready", "")
        while True:
            try:
                async with asyncio.timeout(HEARTBEAT_S):
                    payload = await queue.get()
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            yield sse("change", payload)
    finally:
        feed.unsubscribe(queue)


def add_routes(api: FastAPI) -> None:
    @api.get(
        "/api/v1/events/stream",
        tags=["console"],
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}, "description": "server-sent events"}},
    )
    async def events_stream(request: Request) -> StreamingResponse:
        """Server-sent events: `change` (data: the upstream service) each time the reporting read model
        commits new events, so a page can re-fetch what it shows; `ready` once at the start; a comment
        every 15 s keeps proxies from closing the stream."""
        feed: ChangeFeed = request.app.state.change_feed
        queue = feed.subscribe()
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(_stream(feed, queue), media_type="text/event-stream", headers=headers)
