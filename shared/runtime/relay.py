"""Outbox relay: publishes every event a service recorded, in order, exactly once, to JetStream.

Position: the relay keeps no state of its own. The service's stream holds only what this relay
published, so its last message says where to resume (`Aftersales-Position` header). Every publish
names the previous event id in `Nats-Expected-Last-Msg-Id`, so the stream refuses a gap or a
reordering, and `Nats-Msg-Id` (the deterministic event id) makes a repeated publish a no-op.

Liveness: every wait on the broker is bounded (`ack_timeout_s`); a batch that is refused (the chain
does not match, e.g. after a NATS restart or a foreign message on the stream) or not acknowledged
in time makes the relay resynchronise from the stream's last message, with a capped backoff, and
carry on. The first publish after a resynchronisation is chained by sequence
(`Nats-Expected-Last-Sequence`), so a last message that is not ours does not block the chain.

Tamper evidence: a batch is published only as far as its events continue the chain hash on the last
published message and (with a checkpoint key) a writer's signed link covers them
(`shared.runtime.chain.vet_batch`); each message carries its chain hash, and the newest signed
checkpoint is copied to the checkpoint stream every `checkpoint_interval_s`. A store whose chain
does not continue what was published stops the relay (`ChainBroken`, logged, retried with backoff).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import nats.errors
import psycopg
import structlog
from eventsourcing.application import Application
from eventsourcing.persistence import Notification, PersistenceError
from nats.js import JetStreamContext
from nats.js.errors import APIError, NotFoundError
from prometheus_client import Counter, Gauge
from psycopg.sql import SQL, Identifier

from shared.events.base import DomainEvent
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
from shared.runtime.chain import ChainBroken, starting_hash, vet_batch
from shared.runtime.checkpoints import (
    HDR_CHAIN,
    HDR_SIGNATURE,
    HDR_SIGNED_AT,
    Checkpoint,
    Verifier,
    encode_checkpoint,
)
from shared.runtime.store import ChainLink, recorder_of

HDR_EXPECTED_LAST_SEQUENCE = "Nats-Expected-Last-Sequence"
WRONG_LAST_MSG_ID = 10070
WRONG_LAST_SEQUENCE = 10071
RESYNC_WALK_LIMIT = 10_000
"""How many foreign messages at the end of the stream a resynchronisation looks past."""

RELAYED = Counter("aftersales_relayed_events_total", "Domain events published by the relay", ["service"])
RELAY_POSITION = Gauge("aftersales_relay_position", "Last notification id published", ["service"])
RELAY_RESYNCS = Counter("aftersales_relay_resyncs_total", "Times the relay resumed from its stream", ["service"])
CHAIN_BROKEN = Counter(
    "aftersales_relay_chain_broken_total", "Batches refused: the store's chain does not continue what was published",
    ["service"],
)  # fmt: skip
MAX_READ_LIMIT = 100_000
"""How far a relay reads ahead for the signed last link of a transaction larger than its batch."""
log = structlog.get_logger()

_META_FIELDS = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic"})
_DECISION_FIELDS = ("rule", "policy_version", "inputs")


def to_envelope(service: str, notification_id: int, event: Any) -> Envelope:
    """Map a stored domain event to the wire envelope. Events name their wire type as `wire_type`."""
    if isinstance(event, DomainEvent):  # one definition per event (shared/events/base.py)
        data = event.wire_data()
        decision = {k: getattr(event, k) for k in _DECISION_FIELDS if hasattr(event, k)}
        correlation_id, causation_id = event.correlation_id, event.causation_id
    else:  # a service whose events are still nested classes of its aggregates
        data = {k: v for k, v in event.__dict__.items() if k not in _META_FIELDS}
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


class ChainMismatch(RuntimeError):
    """The stream's last message is not the one this relay expected: resynchronise from the stream."""


RETRYABLE: tuple[type[BaseException], ...] = (
    ChainMismatch,
    ChainBroken,
    APIError,
    nats.errors.Error,
    PersistenceError,
    psycopg.Error,
    TimeoutError,
    OSError,
)
"""What makes the relay back off, resynchronise and try again: the broker or the store away, a
refused chain. Anything else is a bug and stops the relay (and its process, so it is restarted)."""


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
        ack_timeout_s: float = 10.0,
        max_backoff_s: float = 5.0,
        verifier: Verifier | None = None,
        checkpoint_interval_s: float = 5.0,
    ) -> None:
        self.app = app
        self.js = js
        self.names = names
        self.service = service
        self.batch_size = batch_size
        self.idle_sleep_s = idle_sleep_s
        self.wakeup = wakeup or asyncio.Event()
        self.ack_timeout_s = ack_timeout_s
        self.max_backoff_s = max_backoff_s
        self.position = 0
        self.last_event_id: str | None = None
        self.last_sequence: int | None = None
        """Set after a resynchronisation: the next publish is chained by this stream sequence."""
        self.resyncs = 0
        self.verifier = verifier
        """With a key, only what a writer signed is published (`shared.runtime.chain.vet_batch`)."""
        self.checkpoint_interval_s = checkpoint_interval_s
        self.last_hash: bytes | None = None
        """The chain hash on the last message published (None: not known from the stream)."""
        self.pending_checkpoint: Checkpoint | None = None
        self.checkpointed_position = 0
        self._checkpointed_at = 0.0
        self._read_limit = batch_size
        self._store = recorder_of(app).datastore.schema
        self._stopping = False
        self._listener: threading.Thread | None = None

    async def _load_position(self) -> None:
        """Resume after the last message of ours on the stream (bounded waits, bounded walk back)."""
        stream = self.names.events_stream(self.service)
        async with asyncio.timeout(self.ack_timeout_s):
            info = await self.js.stream_info(stream)
        last_seq = int(info.state.last_seq or 0)
        self.last_sequence = last_seq
        self.position, self.last_event_id, self.last_hash = 0, None, None
        if last_seq == 0 or info.state.messages == 0:
            return
        first_seq = int(info.state.first_seq or 1)
        for seq in range(last_seq, max(first_seq, last_seq - RESYNC_WALK_LIMIT) - 1, -1):
            try:
                async with asyncio.timeout(self.ack_timeout_s):
                    msg = await self.js.get_msg(stream, seq=seq)
            except NotFoundError:
                continue  # deleted
            headers = msg.headers or {}
            if HDR_POSITION in headers and HDR_MSG_ID in headers:
                self.position = int(headers[HDR_POSITION])
                self.last_event_id = headers[HDR_MSG_ID]
                self.last_hash = bytes.fromhex(headers[HDR_CHAIN]) if HDR_CHAIN in headers else None
                if seq != last_seq:
                    log.warning("relay_foreign_messages", stream=stream, ours=seq, last=last_seq)
                return
        raise ChainMismatch(f"no message of ours in the last {RESYNC_WALK_LIMIT} of {stream}")

    def _read(self) -> tuple[list[tuple[Notification, Any]], dict[int, ChainLink], bool]:
        """The next events, their chain links (from the last published one on) and whether the read
        was cut by its limit."""
        limit = self._read_limit
        notifications = self.app.recorder.select_notifications(start=self.position + 1, limit=limit)
        to_event: Callable[[Notification], Any] = self.app.mapper.to_domain_event
        links = recorder_of(self.app).chain_links(self.position, notifications[-1].id) if notifications else {}
        return [(n, to_event(n)) for n in notifications], links, len(notifications) >= limit

    def _vet(self, batch: list[tuple[Notification, Any]], links: dict[int, ChainLink], full: bool) -> list[bytes]:
        """The chain hashes of the prefix of `batch` that may be published (see `vet_batch`)."""
        try:
            previous_hash = starting_hash(self.position, self.last_hash, links)
            vetted = vet_batch(
                self._store, [n for n, _ in batch], links, self.position or None, previous_hash, self.verifier, full
            )
        except ChainBroken as exc:
            CHAIN_BROKEN.labels(self.service).inc()
            log.error("relay_chain_broken", service=self.service, position=exc.position, reason=exc.reason)
            raise
        if vetted.count == 0 and full:
            self._read_limit = min(self._read_limit * 2, MAX_READ_LIMIT)  # a transaction larger than the batch
        else:
            self._read_limit = self.batch_size
        return vetted.hashes

    async def publish_pending(self) -> int:
        """Publish one batch; return how many events were published.

        Bounded: raises `TimeoutError` when the stream does not acknowledge the batch within
        `ack_timeout_s`, `ChainMismatch` when it refuses the chain; either way nothing is waited for
        any more (pending acknowledgements are cancelled, which frees their publish slots)."""
        batch, links, full = await asyncio.to_thread(self._read)
        if not batch:
            return 0
        hashes = self._vet(batch, links, full)
        batch = batch[: len(hashes)]
        if not batch:
            return 0
        expected = self.last_event_id
        futures: list[asyncio.Future[Any]] = []
        reconnects = self._reconnects()
        try:
            async with asyncio.timeout(self.ack_timeout_s):
                for i, (notification, event) in enumerate(batch):
                    envelope = to_envelope(self.service, notification.id, event)
                    headers = {
                        HDR_MSG_ID: str(envelope.event_id),
                        HDR_POSITION: str(notification.id),
                        HDR_TYPE: envelope.type,
                        HDR_CORRELATION: envelope.correlation_id,
                        HDR_CHAIN: hashes[i].hex(),
                    }
                    link = links[notification.id]
                    if link.signature is not None and link.signed_at is not None:
                        headers[HDR_SIGNATURE] = link.signature.hex()
                        headers[HDR_SIGNED_AT] = link.signed_at.isoformat()
                    if i == 0 and self.last_sequence is not None:
                        headers[HDR_EXPECTED_LAST_SEQUENCE] = str(self.last_sequence)
                    elif expected is not None:
                        headers[HDR_EXPECTED_LAST_MSG_ID] = expected
                    futures.append(
                        await self.js.publish_async(
                            self.names.event(self.service, envelope.type),
                            encode_envelope(envelope),
                            headers=headers,
                            wait_stall=self.ack_timeout_s,
                        )
                    )
                    expected = headers[HDR_MSG_ID]
                acks = await self._acknowledgements(futures, reconnects)
        finally:
            for future in futures:
                if not future.done():
                    future.cancel()
        for ack in acks:
            if isinstance(ack, APIError) and ack.err_code in (WRONG_LAST_MSG_ID, WRONG_LAST_SEQUENCE):
                raise ChainMismatch(str(ack))
            if isinstance(ack, BaseException):
                raise ack
        self.position = batch[-1][0].id
        self.last_event_id = expected
        self.last_hash = hashes[-1]
        self.last_sequence = None
        self._note_checkpoint(links[self.position])
        RELAYED.labels(self.service).inc(len(batch))
        RELAY_POSITION.labels(self.service).set(self.position)
        return len(batch)

    def _note_checkpoint(self, link: ChainLink) -> None:
        if link.signature is not None and link.signed_at is not None and self.verifier is not None:
            self.pending_checkpoint = Checkpoint(
                self._store, link.position, link.hash.hex(), link.signed_at, link.signature.hex(), self.verifier.key_id
            )

    async def publish_checkpoint(self, force: bool = False) -> bool:
        """Copy the newest signed checkpoint published so far to the checkpoint stream, at most once
        per `checkpoint_interval_s` (the stream refuses deletes and purges: the anchor outside the
        database). True if one was published."""
        pending = self.pending_checkpoint
        if pending is None or pending.position <= self.checkpointed_position:
            return False
        if not force and time.monotonic() - self._checkpointed_at < self.checkpoint_interval_s:
            return False
        async with asyncio.timeout(self.ack_timeout_s):
            await self.js.publish(
                self.names.checkpoints(self.service),
                encode_checkpoint(pending),
                stream=self.names.checkpoints_stream,
                headers={HDR_MSG_ID: f"{pending.store}:{pending.position}"},
            )
        self.checkpointed_position = pending.position
        self._checkpointed_at = time.monotonic()
        return True

    def _reconnects(self) -> int:
        nc = getattr(self.js, "_nc", None)
        stats = getattr(nc, "stats", None) or {}
        return int(stats.get("reconnects", 0))

    async def _acknowledgements(self, futures: list[asyncio.Future[Any]], reconnects: int) -> list[Any]:
        """The stream's answers, in order. Acknowledgements of publishes sent before a reconnect are
        lost with the old connection: once the client has reconnected, the batch is given up at once
        (`ConnectionError`) rather than waited for until `ack_timeout_s`, and the stream says what it kept."""
        pending: set[asyncio.Future[Any]] = set(futures)
        while pending:
            _, pending = await asyncio.wait(pending, timeout=0.25)
            if pending and self._reconnects() != reconnects:
                raise ConnectionError("the broker connection was re-established during the batch")
        return [f.exception() or f.result() for f in futures]

    def _listen(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wake the relay on the library's NOTIFY after each insert, from any process."""
        channel = getattr(self.app.recorder, "channel_name", None)
        datastore = getattr(self.app.recorder, "datastore", None)
        if channel is None or datastore is None:
            return
        backoff = 0.5
        while not self._stopping:
            try:
                with datastore.get_connection() as conn:
                    conn.execute(SQL("LISTEN {0}").format(Identifier(channel)))
                    backoff = 0.5
                    while not self._stopping:
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            loop.call_soon_threadsafe(self.wakeup.set)
            except RETRYABLE as exc:  # the LISTEN connection is gone: reconnect
                log.warning("relay_listen_failed", error=repr(exc), retry_in_s=backoff)
                self._sleep_unless_stopping(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)

    def _sleep_unless_stopping(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stopping and time.monotonic() < deadline:
            time.sleep(0.1)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        listener = threading.Thread(target=self._listen, args=(loop,), name=f"{self.service}-relay-listen", daemon=True)
        listener.start()
        self._listener = listener  # only once started: `stop` (another thread) may join it at any moment
        backoff = 0.25
        while not self._stopping:
            try:
                await self._load_position()
                break
            except RETRYABLE as exc:  # broker away or stream unreadable: retry
                log.warning("relay_start_retry", error=repr(exc), retry_in_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
        log.info("relay_started", position=self.position)
        backoff = 0.25
        while not self._stopping:
            try:
                published = await self.publish_pending()
                await self.publish_checkpoint()
                backoff = 0.25
            except RETRYABLE as exc:  # store or broker away, chain refused: resync and retry
                log.warning("relay_retry", error=repr(exc), retry_in_s=backoff, position=self.position)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                await self._resync()
                continue
            if published < self.batch_size:
                self.wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wakeup.wait(), timeout=self.idle_sleep_s)

    async def _resync(self) -> None:
        try:
            await self._load_position()
        except RETRYABLE as exc:  # still away: the next round retries
            log.warning("relay_resync_failed", error=repr(exc))
            return
        self.resyncs += 1
        RELAY_RESYNCS.labels(self.service).inc()
        log.info("relay_resynced", position=self.position, last_sequence=self.last_sequence)

    def stop(self) -> None:
        self._stopping = True
        self.wakeup.set()
        if self._listener is not None:
            self._listener.join(timeout=2.0)  # it checks for the stop every second
