"""Reporting's subscribers: one durable batch consumer per upstream service stream.

Ack behaviour: a batch is projected in one transaction together with the new position, then acked.
An envelope that cannot be decoded, or whose type/version the catalog does not know, is poison:
dead-lettered on `aftersales.deadletter.reporting` with its reason, and the rest goes on.
A database failure nak's the batch with a delay; the position makes the redelivery a no-op.

Ordered delivery: the position filter skips anything at or below the last applied position, so
messages must be applied in stream order; `InOrderGate` (shared/runtime/ordering.py) sees to that
after a crash, when JetStream would otherwise deliver newer messages before the dead consumer's
unacknowledged batch.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import msgspec
import structlog
from faststream import AckPolicy, Context
from faststream.nats import JStream, NatsRouter, PullSub
from faststream.nats.message import NatsBatchMessage
from prometheus_client import Counter, Gauge
from psycopg import OperationalError

from services.reporting.application import ReportingStore
from shared.events.catalog import UnknownEventType, payload
from shared.events.envelope import HDR_CORRELATION, Envelope, decode_envelope
from shared.events.subjects import Names
from shared.runtime.deadletter import dead_letter
from shared.runtime.leases import LeaseLost
from shared.runtime.ordering import InOrderGate
from shared.runtime.partitions import Partition, Partitioning
from shared.runtime.service import Ports, consumer_config, raw_batch

PROJECTED = Counter("aftersales_reporting_projected_total", "Events applied to the read model", ["upstream"])
POSITION = Gauge("aftersales_reporting_position", "Last upstream position projected", ["upstream"])
log = structlog.get_logger()

UPSTREAMS = ("intake", "dispatch", "parts")


def build_router(
    store: ReportingStore, ports: Ports, names: Names, batch_size: int, partitioning: Partitioning | None = None
) -> NatsRouter:
    """One durable consumer per upstream and owned partition (`shared/runtime/partitions.py`)."""
    router = NatsRouter()
    for upstream in UPSTREAMS:
        for partition in (partitioning or Partitioning()).partitions:
            _subscribe(router, store, ports, names, upstream, batch_size, partition)
    return router


def _subscribe(
    router: NatsRouter,
    store: ReportingStore,
    ports: Ports,
    names: Names,
    upstream: str,
    batch_size: int,
    partition: Partition,
) -> None:
    durable = names.durable(partition.durable("reporting", upstream))
    tracking = partition.tracking(upstream)
    gate: list[InOrderGate] = []  # created on the first batch, once the broker is connected

    @router.subscriber(
        names.events_of(upstream),
        stream=JStream(names.events_stream(upstream), declare=False),
        durable=durable,
        config=consumer_config(durable, max_ack_pending=batch_size),  # in order: see ordered delivery below
        pull_sub=PullSub(batch_size=batch_size, timeout=0.02, batch=True),
        ack_policy=AckPolicy.MANUAL,
        decoder=raw_batch,
        title=f"reporting/{upstream}" + ("" if partition.count == 1 else f"/p{partition.index}"),
        description=f"Domain events of {upstream}, projected into the registers and KPIs.",
    )
    async def on_events(body: list[bytes], msg: Annotated[NatsBatchMessage, Context("message")]) -> None:
        if not gate:
            gate.append(InOrderGate(ports.js, names.events_stream(upstream), durable))
        split = await gate[0].split(list(msg.raw_message))
        envelopes: list[Envelope] = []
        for m in split.ready:
            key = (m.headers or {}).get(HDR_CORRELATION)
            if key is not None and not partition.owns(key):
                continue  # another partition's: settled with the rest, never decoded here
            try:
                envelope = decode_envelope(m.data)
                payload(envelope)
            except (msgspec.DecodeError, msgspec.ValidationError, UnknownEventType) as exc:
                if partition.owns(key or ""):
                    await dead_letter(ports.js, names, "reporting", m, f"undecodable domain event: {exc}")
                continue
            if key is None and not partition.owns(envelope.correlation_id):
                continue
            envelopes.append(envelope)
        try:
            applied = await asyncio.to_thread(store.project, upstream, envelopes, tracking) if envelopes else 0
        except (OperationalError, LeaseLost) as exc:
            log.warning("projection_retry", upstream=upstream, error=repr(exc))
            await msg.nack(delay=2.0)
            return
        gate[0].advance(split.ready)
        await gate[0].settle(split)
        PROJECTED.labels(upstream).inc(applied)
        if envelopes:
            POSITION.labels(upstream).set(envelopes[-1].position)
