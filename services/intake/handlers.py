"""Intake's faststream subscribers: parse, call the application, ack. Nothing else.

Ack behaviour (explicit, never faststream's default), per message (`shared/runtime/batches.py`):
- poison (bad JSON, unknown schema, a broken field rule, a survey of an unknown complaint, any
  `PermanentFailure` or domain refusal): published to `aftersales.deadletter.telephony` with the
  original bytes, headers and reason, then acked;
- the valid rest of a batch is registered in one transaction, then acked; if that transaction
  fails, the batch is split until the failing message is isolated, and the rest commits;
- a transient failure (database or broker) of a message: nak'ed with a growing delay (`RETRY_BASE_S`
  ×4 per delivery) and after `MAX_DELIVERIES` deliveries dead-lettered with "gave up after N
  deliveries: <reason>"; registering is idempotent on `call_id`, so a redelivery changes nothing.
  A message is given up only if the database demonstrably worked for others when its attempt began
  (something committed within `WORKING_DATABASE_S` before): during an outage for everyone nothing is
  given up, the calls wait (nak'ed, at most `OUTAGE_RETRY_CAP_S` apart) and go through when the
  database is back.
- the database work of a batch runs on one ordered worker thread while the next batch is fetched;
  at most two batches are in flight, and a batch is acked only after its transaction committed.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
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
from shared.events.commands import decode_calendar_command, decode_erase_command, decode_intake_command
from shared.events.envelope import Envelope
from shared.events.subjects import Names
from shared.events.telephony import ComplaintReceivedV1, PoisonMessage, SurveyCompletedV1, decode_telephony
from shared.runtime.batches import Settlement, gave_up_reason, gives_up, retry_delay, settle
from shared.runtime.commands import CommandErrors, execute_command
from shared.runtime.deadletter import dead_letter
from shared.runtime.pipeline import OrderedPipeline
from shared.runtime.service import Ports, consumer_config, raw_batch
from shared.runtime.upstream import subscribe_upstream
from shared.security.duties import SeparationOfDuties
from shared.workcal import CalendarOutOfRange

COMPLAINTS = Counter("aftersales_intake_complaints_total", "Telephony complaints by outcome", ["outcome"])
_reply = msgspec.json.Encoder()
log = structlog.get_logger()

RETRY_BASE_S = 2.0
"""First retry delay of a transient failure; then ×4 per delivery (2 s, 8 s, 32 s, 128 s)."""
WORKING_DATABASE_S = 60.0
OUTAGE_RETRY_CAP_S = 30.0


class LastCommit:
    """When a batch last committed (monotonic): the evidence that a failure is one message's own."""

    def __init__(self) -> None:
        self.at = float("-inf")

    def seen(self) -> None:
        self.at = time.monotonic()

    def database_worked_before(self, started: float) -> bool:
        """Something committed shortly before `started`: the database was up when the attempt began."""
        return self.at <= started and started - self.at < WORKING_DATABASE_S


Inbound = tuple[Msg, ComplaintReceivedV1 | SurveyCompletedV1]


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
    last_commit = LastCommit()

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
        units: list[Inbound] = []
        for m in raw:
            try:
                units.append((m, decode_telephony(m.data, ports.clock.known_now(), ports.door_limits)))
            except PoisonMessage as exc:
                await dead_letter(ports.js, names, "telephony", m, str(exc))
                COMPLAINTS.labels("dead_lettered").inc()
                await m.ack()

        started = time.monotonic()

        def work() -> Settlement[Inbound, list[tuple[Inbound, str]]]:
            return settle(units, lambda part: _apply(app, part))

        async def done(settled: Settlement[Inbound, list[tuple[Inbound, str]]]) -> None:
            gave_up_allowed = last_commit.database_worked_before(started)
            if settled.committed:
                last_commit.seen()
            await _finish(ports, names, settled, gave_up_allowed)
            await msg.ack()

        async def failed(exc: BaseException) -> None:
            # `settle` classifies every failure of `apply`; this is the worker itself failing.
            log.error("intake_batch_failed", error=repr(exc), size=len(units))
            retry = [(unit, repr(exc)) for unit in units]
            await _come_back(ports, names, retry, last_commit.database_worked_before(started))

        await pipeline.submit(work, done, failed)

    def on_dispatch(upstream: str, envelopes: Sequence[Envelope], tracking: str) -> int:
        return app.on_dispatch_events(upstream, envelopes)  # not partitioned: tracked as `upstream`

    subscribe_upstream(router, ports, names, "intake", "dispatch", on_dispatch,
                       description="Repair outcomes from dispatch (WAR-EXTEND-60D, WAR-LEMON).")  # fmt: skip

    @router.subscriber(
        names.commands("intake"),
        decoder=raw_batch,
        title="intake/commands",
        description="Staff commands (request/reply): relay, complete, classify, answer, decide_solution, "
        "record_repair, close, fine_record_incomplete, first_contact, attribute_fine. Replies with CommandReply; "
        "the caller's credential travels in the Authorization header (401 without a valid one).",
    )
    async def on_command(body: bytes, msg: NatsMessage) -> bytes:
        def run(command: Any, now: dt.datetime, causation_id: str) -> tuple[str | None, list[str]]:
            return None, app.execute(command, now, causation_id)

        errors = CommandErrors(forbidden=(Forbidden, SeparationOfDuties), unknown=(UnknownComplaint,),
                               rejected=(CommandRejected, CalendarOutOfRange))  # fmt: skip
        return await answer(body, msg, decode_intake_command, run, errors)

    @router.subscriber(
        names.commands("calendar"),
        decoder=raw_batch,
        title="intake/calendar",
        description="PublishCalendar (request/reply, role ops): one year's working calendar (docs/rules.md §9); "
        "the caller's credential travels in the Authorization header.",
    )
    async def on_calendar_command(body: bytes, msg: NatsMessage) -> bytes:
        def run(command: Any, now: dt.datetime, causation_id: str) -> tuple[str | None, list[str]]:
            return None, app.publish_calendar(command, now, causation_id)

        errors = CommandErrors(forbidden=(Forbidden, SeparationOfDuties), unknown=(), rejected=(CommandRejected,))
        return await answer(body, msg, decode_calendar_command, run, errors)

    @router.subscriber(
        names.commands("privacy"),
        decoder=raw_batch,
        title="intake/privacy",
        description="ErasePersonalData (request/reply, role ops): destroy a customer's keys (PII-ERASE, "
        "docs/rules.md §11) and record PersonalDataErased; the caller's credential travels in the Authorization "
        "header.",
    )
    async def on_privacy_command(body: bytes, msg: NatsMessage) -> bytes:
        def run(command: Any, now: dt.datetime, causation_id: str) -> tuple[str | None, list[str]]:
            return None, app.erase_personal_data(command, now, causation_id)

        errors = CommandErrors(forbidden=(Forbidden,), unknown=(), rejected=(CommandRejected,))
        return await answer(body, msg, decode_erase_command, run, errors)

    async def answer(body: bytes, msg: NatsMessage, decode: Callable[[bytes], Any],
                     run: Callable[[Any, dt.datetime, str], tuple[str | None, list[str]]],
                     errors: CommandErrors) -> bytes:  # fmt: skip
        """Run a staff command (its credential checked again here) and wake the relay if it recorded."""
        raw = msg.raw_message
        reply = await execute_command("intake", body, raw.reply, decode, run, ports.clock, errors, raw.headers,
                                      ports.authenticator)  # fmt: skip
        if reply.ok:
            ports.relay_wakeup.set()
        return _reply.encode(reply)

    return router


def _apply(app: IntakeApplication, units: Sequence[Inbound]) -> list[tuple[Inbound, str]]:
    """Register the calls of `units` in one transaction, then record the surveys (each idempotent).
    Returns the units refused for their content (a survey of an unknown complaint); raises if the
    part as a whole failed, and `settle` then splits it."""
    calls = [InboundCall(decoded, causation_of(m)) for m, decoded in units if isinstance(decoded, ComplaintReceivedV1)]
    outcome = app.register(calls) if calls else RegisterOutcome()
    COMPLAINTS.labels("registered").inc(len(outcome.registered))
    COMPLAINTS.labels("duplicate").inc(outcome.duplicates)
    refused: list[tuple[Inbound, str]] = []
    for m, decoded in units:
        if isinstance(decoded, SurveyCompletedV1):
            structlog.contextvars.bind_contextvars(correlation_id=decoded.complaint_no)
            try:
                app.record_survey(decoded, causation_of(m))
            except UnknownComplaint as exc:
                refused.append(((m, decoded), f"survey for an unknown complaint: {exc}"))
            finally:
                structlog.contextvars.unbind_contextvars("correlation_id")
    return refused


async def _finish(
    ports: Ports, names: Names, settled: Settlement[Inbound, list[tuple[Inbound, str]]], may_give_up: bool
) -> None:
    """Dead-letter the poison (with its reason) before acking it, ack what committed, and send
    what failed transiently back with a growing delay, or give it up after MAX_DELIVERIES."""
    refused = {id(m): reason for result in settled.results for (m, _), reason in result}
    poison = [(unit, reason) for unit, reason in settled.poison]
    poison += [(unit, refused[id(unit[0])]) for unit in settled.committed if id(unit[0]) in refused]
    for (m, _), reason in poison:
        await dead_letter(ports.js, names, "telephony", m, reason)
        COMPLAINTS.labels("dead_lettered").inc()
        await m.ack()
    for m, _ in settled.committed:
        if id(m) not in refused:
            await m.ack()
    await _come_back(ports, names, settled.retry, may_give_up)
    if settled.attempts > 1:
        log.warning("intake_batch_split", attempts=settled.attempts, committed=len(settled.committed),
                    poison=len(poison), retry=len(settled.retry))  # fmt: skip
    ports.relay_wakeup.set()


async def _come_back(ports: Ports, names: Names, units: Sequence[tuple[Inbound, str]], may_give_up: bool) -> None:
    """`may_give_up`: the database worked for others when these were tried (else: an outage, wait)."""
    for (m, _), reason in units:
        delivered = m.metadata.num_delivered or 1
        if gives_up(delivered) and not may_give_up:  # an outage for everyone: wait
            delay = min(retry_delay(delivered, RETRY_BASE_S), OUTAGE_RETRY_CAP_S)
            log.error("intake_waiting_for_database", delivered=delivered, delay_s=delay, reason=reason,
                      stream_seq=m.metadata.sequence.stream)  # fmt: skip
            COMPLAINTS.labels("waiting_for_database").inc()
            await m.nak(delay=delay)
        elif gives_up(delivered):
            await dead_letter(ports.js, names, "telephony", m, gave_up_reason(delivered, reason))
            COMPLAINTS.labels("gave_up").inc()
            await m.ack()
        else:
            delay = retry_delay(delivered, RETRY_BASE_S)
            log.warning("intake_retry", delivered=delivered, delay_s=delay, reason=reason,
                        stream_seq=m.metadata.sequence.stream)  # fmt: skip
            await m.nak(delay=delay)
