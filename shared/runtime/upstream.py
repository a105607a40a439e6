"""Consuming another service's domain events, exactly once.

A service subscribes to an upstream service's stream with a durable batch consumer. Its handler
gets decoded envelopes; for each one it cares about, it saves its own events together with
`position=Tracking(upstream, envelope.position)` (the upstream's gap-free notification id) in the
same transaction, and skips envelopes at or below the recorded position. A redelivered or
re-published event therefore changes nothing. For that to be safe, delivery is in stream order: at
most one batch is unacknowledged (`max_ack_pending` = batch size), so after a crash the dead
consumer's batch is redelivered before anything newer (otherwise a newer batch would move the
position past it and the redelivery would be skipped as already seen).

Ack behaviour: undecodable envelopes and unknown types are dead-lettered on
`aftersales.deadletter.<consumer>` with their reason; a database failure nak's the batch with a
delay; everything else is acked after the handler returned.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Annotated

import msgspec
import structlog
from eventsourcing.persistence import OperationalError
from faststream import AckPolicy, Context
from faststream.nats import JStream, NatsRouter, PullSub
from faststream.nats.message import NatsBatchMessage

from shared.events.catalog import UnknownEventType, payload
from shared.events.envelope import Envelope, decode_envelope
from shared.events.subjects import Names
from shared.runtime.deadletter import dead_letter
from shared.runtime.ordering import InOrderGate
from shared.runtime.service import Ports, consumer_config, raw_batch

log = structlog.get_logger()

UpstreamHandler = Callable[[str, Sequence[Envelope]], int]
"""(upstream service, envelopes in stream order) -> how many changed something. Runs in a thread."""


def subscribe_upstream(
    router: NatsRouter,
    ports: Ports,
    names: Names,
    consumer: str,
    upstream: str,
    handle: UpstreamHandler,
    batch_size: int = 200,
    description: str = "",
) -> None:
    durable = names.durable(f"{consumer}-{upstream}")
    gate: list[InOrderGate] = []  # created on the first batch, once the broker is connected

    @router.subscriber(
        names.events_of(upstream),
        stream=JStream(names.events_stream(upstream), declare=False),
        durable=durable,
        config=consumer_config(durable, max_ack_pending=batch_size),
        pull_sub=PullSub(batch_size=batch_size, timeout=0.02, batch=True),
        ack_policy=AckPolicy.MANUAL,
        decoder=raw_batch,
        title=f"{consumer}/{upstream}",
        description=description or f"Domain events of {upstream} that {consumer} reacts to.",
    )
    async def on_upstream(body: list[bytes], msg: Annotated[NatsBatchMessage, Context("message")]) -> None:
        if not gate:
            gate.append(InOrderGate(ports.js, names.events_stream(upstream), durable))
        split = await gate[0].split(list(msg.raw_message))
        envelopes: list[Envelope] = []
        for m in split.ready:
            try:
                envelope = decode_envelope(m.data)
                payload(envelope)
            except (msgspec.DecodeError, msgspec.ValidationError, UnknownEventType) as exc:
                await dead_letter(ports.js, names, consumer, m, f"undecodable domain event: {exc}")
                continue
            envelopes.append(envelope)
        try:
            changed = await asyncio.to_thread(handle, upstream, envelopes) if envelopes else 0
        except OperationalError as exc:
            log.warning("upstream_retry", upstream=upstream, error=repr(exc))
            await msg.nack(delay=2.0)
            return
        gate[0].advance(split.ready)
        await gate[0].settle(split)
        if changed:
            ports.relay_wakeup.set()
