"""Intake's faststream subscribers: parse, call the application, ack. Nothing else.

Ack behaviour (explicit, never faststream's default):
- poison (bad JSON, unknown schema, a broken field rule): published to
  `aftersales.deadletter.telephony` with the original bytes, headers and reason, then acked;
- the valid rest of a batch is registered in one transaction, then every message is acked;
- a transient failure (database or broker): the whole batch is nak'ed with a delay and comes back;
  registering is idempotent on `call_id`, so a redelivery changes nothing.
- the database work of a batch runs on one ordered worker thread while the next batch is fetched;
  at most two batches are in flight, and a batch is acked only after its transaction committed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any

import msgspec
import structlog
from faststream import AckPolicy, Context
from faststream.nats import JStream, NatsMessage, NatsRouter, PullSub
from faststream.nats.message import NatsBatchMessage
from nats.aio.msg import Msg
from prometheus_client import Counter

from services.intake.application import Forbidden, InboundCall, IntakeApplication, RegisterOutcome, UnknownComplaint
from services.intake.domain import CommandRejected
from shared.events.commands import CommandReply, decode_calendar_command, decode_intake_command
from shared.events.envelope import Envelope
from shared.events.subjects import Names
from shared.events.telephony import ComplaintReceivedV1, PoisonMessage, SurveyCompletedV1, decode_telephony
from shared.runtime.commands import CommandErrors, execute_command
from shared.runtime.deadletter import dead_letter
from shared.runtime.pipeline import OrderedPipeline
from shared.runtime.service import Ports, consumer_config, raw_batch
from shared.runtime.upstream import subscribe_upstream
from shared.workcal import CalendarOutOfRange

COMPLAINTS = Counter("aftersales_intake_complaints_total", "Telephony complaints by outcome", ["outcome"])
_reply = msgspec.json.Encoder()
log = structlog.get_logger()

RETRY_DELAY_S = 2.0


def causation_of(msg: Msg) -> str:
    meta = msg.metadata
    return f"{meta.stream}:{meta.sequence.stream}"


def build_router(
    app: IntakeApplication, ports: Ports, names: Names, batch_size: int, pipeline: OrderedPipeline | None = None
) -> NatsRouter:
    """`pipeline` runs the database work of a batch while the next one is fetched (see its docs)."""
    router = NatsRouter()
    # Registration is idempotent on call_id and order-free: two batches may be in the database at once.
    pipeline = pipeline or OrderedPipeline(depth=3, name="intake-db", workers=2)
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
        description="Telephony complaints and surveys (docs/contract.md §1), consumed in batches.",
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

        def work() -> RegisterOutcome | None:
            outcome = app.register(calls) if calls else None
            for survey, m in surveys:
                _record_survey(app, survey, m, poison)
            return outcome

        poison: list[tuple[Msg, str]] = []

        async def done(outcome: RegisterOutcome | None) -> None:
            for m, reason in poison:
                await dead_letter(ports.js, names, "telephony", m, reason)
            if outcome is not None:
                COMPLAINTS.labels("registered").inc(len(outcome.registered))
                COMPLAINTS.labels("duplicate").inc(outcome.duplicates)
            ports.relay_wakeup.set()
            await msg.ack()

        async def failed(exc: BaseException) -> None:
            # Transient (database away, …): the whole batch comes back; registering is idempotent.
            log.warning("intake_batch_retry", error=repr(exc), size=len(raw))
            await msg.nack(delay=RETRY_DELAY_S)

        await pipeline.submit(work, done, failed)

    def on_dispatch(upstream: str, envelopes: Sequence[Envelope]) -> int:
        return app.on_dispatch_events(upstream, envelopes)

    subscribe_upstream(router, ports, names, "intake", "dispatch", on_dispatch,
                       description="Repair outcomes from dispatch (WAR-EXTEND-60D, WAR-LEMON).")  # fmt: skip

    @router.subscriber(
        names.commands("intake"),
        decoder=raw_batch,
        title="intake/commands",
        description="Staff commands (request/reply): relay, complete, classify, answer, decide_solution, "
        "record_repair, close, fine_record_incomplete. Replies with CommandReply.",
    )
    async def on_command(body: bytes, msg: NatsMessage) -> bytes:
        reply = await _execute(app, ports, body, msg.raw_message)
        if reply.ok:
            ports.relay_wakeup.set()
        return _reply.encode(reply)

    @router.subscriber(
        names.commands("calendar"),
        decoder=raw_batch,
        title="intake/calendar",
        description="PublishCalendar (request/reply, role ops): one year's working calendar (docs/rules.md §9).",
    )
    async def on_calendar_command(body: bytes, msg: NatsMessage) -> bytes:
        def run(command: Any, now: dt.datetime, causation_id: str) -> tuple[str | None, list[str]]:
            return None, app.publish_calendar(command, now, causation_id)

        errors = CommandErrors(forbidden=(Forbidden,), unknown=(), rejected=(CommandRejected,))
        reply = await execute_command("intake", body, msg.raw_message.reply, decode_calendar_command, run,
                                      ports.clock, errors)  # fmt: skip
        if reply.ok:
            ports.relay_wakeup.set()
        return _reply.encode(reply)

    return router


async def _execute(app: IntakeApplication, ports: Ports, body: bytes, raw: Msg) -> CommandReply:
    errors = CommandErrors(
        forbidden=(Forbidden,), unknown=(UnknownComplaint,), rejected=(CommandRejected, CalendarOutOfRange)
    )

    def run(command: Any, now: dt.datetime, causation_id: str) -> tuple[str | None, list[str]]:
        return None, app.execute(command, now, causation_id)

    return await execute_command("intake", body, raw.reply, decode_intake_command, run, ports.clock, errors)


def _record_survey(app: IntakeApplication, survey: SurveyCompletedV1, m: Msg, poison: list[tuple[Msg, str]]) -> None:
    structlog.contextvars.bind_contextvars(correlation_id=survey.complaint_no)
    try:
        app.record_survey(survey, causation_of(m))
    except UnknownComplaint as exc:
        poison.append((m, f"survey for an unknown complaint: {exc}"))
    finally:
        structlog.contextvars.unbind_contextvars("correlation_id")
