"""Consuming another service's domain events, exactly once.

A service subscribes to an upstream service's stream with a durable batch consumer. Its handler
gets decoded envelopes; for each one it cares about, it saves its own events together with
`position=Tracking(upstream, envelope.position)` (the upstream's gap-free notification id) in the
same transaction, and skips envelopes at or below the recorded position. A redelivered or
re-published event therefore changes nothing. For that to be safe, delivery is in stream order: at
most one batch is unacknowledged (`max_ack_pending` = batch size), so after a crash the dead
consumer's batch is redelivered before anything newer (otherwise a newer batch would move the
position past it and the redelivery would be skipped as already seen).

Ack behaviour (`settle_in_order` in `shared/runtime/batches.py`), always in stream order:
- poison (undecodable envelopes, unknown types, and an event whose handling fails alone with a
  non-transient error, found by splitting the batch): dead-lettered on
  `aftersales.deadletter.<consumer>` with its reason, acked, and the position moves past it;
- a transient failure (database or broker away): that event and everything after it are nak'ed
  with a growing delay (`RETRY_BASE_S` ×4 per delivery, capped). It is never skipped: skipping an
  upstream event would lose it for good (a dead letter cannot go back onto another service's
  stream, and the position would already be past it), and a transient failure is the
  infrastructure's, not the event's. From `MAX_DELIVERIES` failed deliveries on (counted by this
  process) the consumer is *stalled*: logged as an error each time, counted in
  `aftersales_upstream_stalled`, and visible as consumer lag on `/healthz`, until it goes through;
- everything else is acked after the handler committed it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Annotated

import msgspec
import structlog
from faststream import AckPolicy, Context
from faststream.nats import JStream, NatsRouter, PullSub
from faststream.nats.message import NatsBatchMessage
from nats.aio.msg import Msg
from prometheus_client import Counter

from shared.events.catalog import UnknownEventType, payload
from shared.events.envelope import HDR_CORRELATION, Envelope, decode_envelope
from shared.events.subjects import Names
from shared.runtime.batches import gives_up, retry_delay, settle_in_order
from shared.runtime.deadletter import dead_letter
from shared.runtime.ordering import InOrderGate, Split
from shared.runtime.partitions import Partition, Partitioning
from shared.runtime.service import Ports, consumer_config, raw_batch

log = structlog.get_logger()
STALLED = Counter("aftersales_upstream_stalled", "Retries of an upstream event past MAX_DELIVERIES (never skipped)",
                  ["consumer", "upstream"])  # fmt: skip

UpstreamHandler = Callable[[str, Sequence[Envelope], str], int]
"""(upstream service, envelopes in stream order, the name its position is tracked under) -> how many
changed something. Runs in a thread; raises if it could not apply them (it may have applied a prefix:
those are skipped next time). Only the envelopes of the consumer's partition are passed."""
Unit = tuple[Msg, Envelope | str | None]
"""A message and its envelope, why it could not be decoded, or None: another partition's."""

RETRY_BASE_S = 2.0
RETRY_CAP_S = 30.0
"""A stalled consumer tries again at least this often, so it moves on soon after the database is back."""


def subscribe_upstream(
    router: NatsRouter,
    ports: Ports,
    names: Names,
    consumer: str,
    upstream: str,
    handle: UpstreamHandler,
    batch_size: int = 200,
    description: str = "",
    partitioning: Partitioning | None = None,
) -> None:
    """One durable consumer per partition this instance owns (`shared/runtime/partitions.py`);
    without `partitioning`, the single consumer of the whole stream."""
    for partition in (partitioning or Partitioning()).partitions:
        _subscribe_partition(router, ports, names, consumer, upstream, handle, batch_size, description, partition)


def _subscribe_partition(
    router: NatsRouter,
    ports: Ports,
    names: Names,
    consumer: str,
    upstream: str,
    handle: UpstreamHandler,
    batch_size: int,
    description: str,
    partition: Partition,
) -> None:
    durable = names.durable(partition.durable(consumer, upstream))
    tracking = partition.tracking(upstream)
    gate: list[InOrderGate] = []  # created on the first batch, once the broker is connected
    # Transient failures per stream sequence, counted only when that event itself failed: the
    # events queued behind it are redelivered too, and their num_delivered says nothing about them.
    failures: dict[int, int] = {}

    @router.subscriber(
        names.events_of(upstream),
        stream=JStream(names.events_stream(upstream), declare=False),
        durable=durable,
        config=consumer_config(durable, max_ack_pending=batch_size),
        pull_sub=PullSub(batch_size=batch_size, timeout=0.02, batch=True),
        ack_policy=AckPolicy.MANUAL,
        decoder=raw_batch,
        title=f"{consumer}/{upstream}" + ("" if partition.count == 1 else f"/p{partition.index}"),
        description=description or f"Domain events of {upstream} that {consumer} reacts to.",
    )
    async def on_upstream(body: list[bytes], msg: Annotated[NatsBatchMessage, Context("message")]) -> None:
        if not gate:
            gate.append(InOrderGate(ports.js, names.events_stream(upstream), durable))
        split = await gate[0].split(list(msg.raw_message))
        units = [_decoded(m, partition) for m in split.ready]

        def apply(part: Sequence[Unit]) -> int:
            envelopes = [envelope for _, envelope in part if isinstance(envelope, Envelope)]
            return handle(upstream, envelopes, tracking) if envelopes else 0

        def refused(unit: Unit) -> str | None:
            return unit[1] if isinstance(unit[1], str) else None

        settled = await asyncio.to_thread(settle_in_order, units, apply, refused)
        handled = [m for m, _ in settled.handled]
        for (m, _), reason in settled.poison:
            await dead_letter(ports.js, names, consumer, m, reason)
        rest = [m for m, _ in settled.rest]
        if rest:
            head = rest[0]
            seq = head.metadata.sequence.stream
            delivered = failures[seq] = failures.get(seq, 0) + 1
            delay = min(retry_delay(delivered, RETRY_BASE_S), RETRY_CAP_S)
            if gives_up(delivered):  # stalled: never skipped, the operator is told
                STALLED.labels(consumer, upstream).inc()
                log.error("upstream_stalled", upstream=upstream, consumer=consumer, delivered=delivered,
                          delay_s=delay, stream_seq=seq, reason=settled.retry_reason)  # fmt: skip
            else:
                log.warning("upstream_retry", upstream=upstream, consumer=consumer, delivered=delivered,
                            delay_s=delay, reason=settled.retry_reason)  # fmt: skip
        for m in handled:
            failures.pop(m.metadata.sequence.stream, None)
        gate[0].advance(handled)
        await gate[0].settle(Split(ready=handled, seen=split.seen, early=split.early))
        for m in rest:
            await m.nak(delay=delay)
        if len(handled) > len(settled.poison):
            ports.relay_wakeup.set()


def _decoded(m: Msg, partition: Partition) -> Unit:
    """The envelope, why it is poison, or None when it belongs to another partition (told by its
    correlation header, without decoding; poison without one belongs to the partition of "")."""
    key = (m.headers or {}).get(HDR_CORRELATION)
    if key is not None and not partition.owns(key):
        return m, None
    try:
        envelope = decode_envelope(m.data)
        payload(envelope)
    except (msgspec.DecodeError, msgspec.ValidationError, UnknownEventType) as exc:
        return m, f"undecodable domain event: {exc}" if partition.owns(key or "") else None
    if key is None and not partition.owns(envelope.correlation_id):
        return m, None
    return m, envelope
