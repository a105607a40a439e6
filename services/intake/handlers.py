"""Intake's faststream subscribers: parse, call the application, ack. Nothing else.

Ack behaviour (explicit, never faststream's default):
- poison (bad JSON, unknown schema, a broken field rule): published to
  `aftersales.deadletter.telephony` with the original bytes, headers and reason, then acked;
- the valid rest of a batch is registered in one transaction, then every message is acked;
- a transient failure (database or broker): the whole batch is nak'ed with a delay and comes back;
  registering is idempotent on `call_id`, so a redelivery changes nothing.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import structlog
from eventsourcing.persistence import OperationalError
from faststream import AckPolicy, Context
from faststream.nats import JStream, NatsRouter, PullSub
from faststream.nats.message import NatsBatchMessage
from nats.aio.msg import Msg
from prometheus_client import Counter

from services.intake.application import InboundCall, IntakeApplication, UnknownComplaint
from shared.events.subjects import Names
from shared.events.telephony import ComplaintReceivedV1, PoisonMessage, SurveyCompletedV1, decode_telephony
from shared.runtime.deadletter import dead_letter
from shared.runtime.service import Ports, consumer_config, raw_batch

COMPLAINTS = Counter("aftersales_intake_complaints_total", "Telephony complaints by outcome", ["outcome"])
log = structlog.get_logger()

RETRY_DELAY_S = 2.0


def causation_of(msg: Msg) -> str:
    meta = msg.metadata
    return f"{meta.stream}:{meta.sequence.stream}"


def build_router(app: IntakeApplication, ports: Ports, names: Names, batch_size: int) -> NatsRouter:
    router = NatsRouter()
    durable = names.durable("intake-telephony")

    @router.subscriber(
        names.telephony_all,
        stream=JStream(names.telephony_stream, declare=False),
        durable=durable,
        config=consumer_config(durable),
        pull_sub=PullSub(batch_size=batch_size, timeout=0.02, batch=True),
        ack_policy=AckPolicy.MANUAL,
        decoder=raw_batch,
        title="intake/telephony",
        description="Telephony complaints and surveys (CONTRACT §1), consumed in batches.",
    )
    async def on_telephony(body: list[bytes], msg: Annotated[NatsBatchMessage, Context("message")]) -> None:
        raw: list[Msg] = msg.raw_message
        calls: list[InboundCall] = []
        surveys: list[tuple[SurveyCompletedV1, Msg]] = []
        for m in raw:
            try:
                decoded = decode_telephony(m.data)
            except PoisonMessage as exc:
                await dead_letter(ports.js, names, "telephony", m, str(exc))
                COMPLAINTS.labels("dead_lettered").inc()
                continue
            if isinstance(decoded, ComplaintReceivedV1):
                calls.append(InboundCall(decoded, causation_of(m)))
            else:
                surveys.append((decoded, m))
        try:
            if calls:
                outcome = await asyncio.to_thread(app.register, calls)
                COMPLAINTS.labels("registered").inc(len(outcome.registered))
                COMPLAINTS.labels("duplicate").inc(outcome.duplicates)
            for survey, m in surveys:
                await _record_survey(app, ports, names, survey, m)
        except OperationalError as exc:
            log.warning("intake_batch_retry", error=repr(exc), size=len(raw))
            await msg.nack(delay=RETRY_DELAY_S)
            return
        ports.relay_wakeup.set()
        await msg.ack()

    return router


async def _record_survey(app: IntakeApplication, ports: Ports, names: Names, survey: SurveyCompletedV1, m: Msg) -> None:
    structlog.contextvars.bind_contextvars(correlation_id=survey.complaint_no)
    try:
        await asyncio.to_thread(app.record_survey, survey, causation_of(m))
    except UnknownComplaint as exc:
        await dead_letter(ports.js, names, "telephony", m, f"survey for an unknown complaint: {exc}")
    finally:
        structlog.contextvars.unbind_contextvars("correlation_id")
