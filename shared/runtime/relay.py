"""Outbox relay: publishes every event a service recorded, in order, exactly once, to JetStream.

Position: the relay keeps no state of its own. The service's stream holds only what this relay
published, so its last message says where to resume (`Aftersales-Position` header). Every publish
names the previous event id in `Nats-Expected-Last-Msg-Id`, so the stream refuses a gap or a
reordering, and `Nats-Msg-Id` (the deterministic event id) makes a repeated publish a no-op.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import structlog
from eventsourcing.application import Application
from eventsourcing.persistence import Notification
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from prometheus_client import Counter, Gauge
from psycopg.sql import SQL, Identifier

from shared.events.envelope import (
    HDR_CORRELATION,
    HDR_EXPECTED_LAST_MSG_ID,
    HDR_MSG_ID,
    HDR_POSITION,
    HDR_TYPE,
    Envelope,
    encode_envelope,
    event_id_for,
)
from shared.events.subjects import Names

RELAYED = Counter("aftersales_relayed_events_total", "Domain events published by the relay", ["service"])
RELAY_POSITION = Gauge("aftersales_relay_position", "Last notification id published", ["service"])
log = structlog.get_logger()

_META_FIELDS = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic"})
_DECISION_FIELDS = ("rule", "policy_version", "inputs")


def to_envelope(service: str, notification_id: int, event: Any) -> Envelope:
    """Map a stored domain event to the wire envelope. Events name their wire type as `wire_type`."""
    fields = dict(event.__dict__)
    data = {k: v for k, v in fields.items() if k not in _META_FIELDS}
    correlation_id = str(data.pop("correlation_id"))
    causation_id = str(data.pop("causation_id"))
    decision = {k: data.pop(k) for k in _DECISION_FIELDS if k in data}
    aggregate_id: uuid.UUID = event.originator_id
    return Envelope(
        event_id=event_id_for(aggregate_id, event.originator_version),
        type=type(event).wire_type,
        version=getattr(type(event), "wire_version", 1),
        occurred_at=event.timestamp,
        service=service,
        position=notification_id,
        aggregate_id=aggregate_id,
        aggregate_version=event.originator_version,
        correlation_id=correlation_id,
        causation_id=causation_id,
        data=data,
        rule=decision.get("rule"),
        policy_version=decision.get("policy_version"),
        inputs=decision.get("inputs"),
    )


class Relay:
    def __init__(
        self,
        app: Application[uuid.UUID],
        js: JetStreamContext,
        names: Names,
        service: str,
        batch_size: int = 500,
        idle_sleep_s: float = 0.25,
        wakeup: asyncio.Event | None = None,
    ) -> None:
        self.app = app
        self.js = js
        self.names = names
        self.service = service
        self.batch_size = batch_size
        self.idle_sleep_s = idle_sleep_s
        self.wakeup = wakeup or asyncio.Event()
        self.position = 0
        self.last_event_id: str | None = None
        self._stopping = False
        self._listener: threading.Thread | None = None

    async def _load_position(self) -> None:
        stream = self.names.events_stream(self.service)
        info = await self.js.stream_info(stream)
        if info.state.last_seq == 0 or info.state.messages == 0:
            self.position, self.last_event_id = 0, None
            return
        try:
            last = await self.js.get_msg(stream, seq=info.state.last_seq)
        except NotFoundError:
            self.position, self.last_event_id = 0, None
            return
        headers = last.headers or {}
        self.position = int(headers[HDR_POSITION])
        self.last_event_id = headers[HDR_MSG_ID]

    def _read(self) -> list[tuple[Notification, Any]]:
        notifications = self.app.recorder.select_notifications(start=self.position + 1, limit=self.batch_size)
        to_event: Callable[[Notification], Any] = self.app.mapper.to_domain_event
        return [(n, to_event(n)) for n in notifications]

    async def publish_pending(self) -> int:
        """Publish one batch; return how many events were published."""
        batch = await asyncio.to_thread(self._read)
        if not batch:
            return 0
        expected = self.last_event_id
        futures = []
        for notification, event in batch:
            envelope = to_envelope(self.service, notification.id, event)
            headers = {
                HDR_MSG_ID: str(envelope.event_id),
                HDR_POSITION: str(notification.id),
                HDR_TYPE: envelope.type,
                HDR_CORRELATION: envelope.correlation_id,
            }
            if expected is not None:
                headers[HDR_EXPECTED_LAST_MSG_ID] = expected
            futures.append(
                await self.js.publish_async(
                    self.names.event(self.service, envelope.type),
                    encode_envelope(envelope),
                    headers=headers,
                    wait_stall=5.0,
                )
            )
            expected = headers[HDR_MSG_ID]
        await asyncio.gather(*futures)
        self.position = batch[-1][0].id
        self.last_event_id = expected
        RELAYED.labels(self.service).inc(len(batch))
        RELAY_POSITION.labels(self.service).set(self.position)
        return len(batch)

    def _listen(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wake the relay on the library's NOTIFY after each insert, from any process."""
        channel = getattr(self.app.recorder, "channel_name", None)
        datastore = getattr(self.app.recorder, "datastore", None)
        if channel is None or datastore is None:
            return
        while not self._stopping:
            try:
                with datastore.get_connection() as conn:
                    conn.execute(SQL("LISTEN {0}").format(Identifier(channel)))
                    while not self._stopping:
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            loop.call_soon_threadsafe(self.wakeup.set)
            except Exception as exc:
                log.warning("relay_listen_failed", error=repr(exc))
                time.sleep(1.0)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self._listener = threading.Thread(
            target=self._listen, args=(loop,), name=f"{self.service}-relay-listen", daemon=True
        )
        self._listener.start()
        await self._load_position()
        log.info("relay_started", position=self.position)
        while not self._stopping:
            try:
                published = await self.publish_pending()
            except Exception as exc:
                log.warning("relay_retry", error=repr(exc))
                await asyncio.sleep(0.5)
                await self._resync()
                continue
            if published < self.batch_size:
                self.wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wakeup.wait(), timeout=self.idle_sleep_s)

    async def _resync(self) -> None:
        try:
            await self._load_position()
        except Exception as exc:
            log.warning("relay_resync_failed", error=repr(exc))

    def stop(self) -> None:
        self._stopping = True
        self.wakeup.set()
        if self._listener is not None:
            self._listener.join(timeout=2.0)  # it checks for the stop every 0.2 s
