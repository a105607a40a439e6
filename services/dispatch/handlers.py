"""Dispatch's faststream subscribers: parse, call the application, reply or ack. Nothing else.

- intake's domain events: a durable batch consumer (`shared.runtime.upstream`); each batch is
  applied exactly once, with intake's position saved in the same transaction.
- staff commands: request/reply on `aftersales.cmd.dispatch`; a refusal is answered with a clear
  reason (403/404/409/422/503) and logged, never silent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import msgspec
import structlog
from faststream.nats import NatsMessage, NatsRouter
from nats.aio.msg import Msg
from prometheus_client import Counter

from services.dispatch.application import DispatchApplication, Forbidden, UnknownComplaint
from services.dispatch.domain import CommandRejected
from services.dispatch.policy import CalendarOutOfRange
from shared.events.commands import CommandReply, RosterCommand, decode_dispatch_command
from shared.events.envelope import Envelope
from shared.events.subjects import Names
from shared.runtime.clock import ClockNotStarted
from shared.runtime.service import Ports, raw_batch
from shared.runtime.upstream import subscribe_upstream

COMMANDS = Counter("aftersales_dispatch_commands_total", "Dispatch staff commands by outcome", ["command", "status"])
_reply = msgspec.json.Encoder()
log = structlog.get_logger()


def build_router(app: DispatchApplication, ports: Ports, names: Names, batch_size: int) -> NatsRouter:
    router = NatsRouter()

    def on_intake(upstream: str, envelopes: Sequence[Envelope]) -> int:
        return app.handle_upstream(upstream, envelopes)

    subscribe_upstream(
        router, ports, names, "dispatch", "intake", on_intake, batch_size=min(batch_size, 200),
        description="intake's events: complaints received, faults classified (on-site), who pays, and the fines "
        "and escalations intake raised.",
    )  # fmt: skip

    @router.subscriber(
        names.commands("dispatch"),
        decoder=raw_batch,
        title="dispatch/commands",
        description="Staff commands (request/reply): roster, fee consent, deputy GM approval, assignment, arrival, "
        "service form, return approval, return, report, audit, follow-up, fines, escalations. Replies with "
        "CommandReply.",
    )
    async def on_command(body: bytes, msg: NatsMessage) -> bytes:
        reply = await _execute(app, ports, body, msg.raw_message)
        if reply.ok:
            ports.relay_wakeup.set()
        return _reply.encode(reply)

    return router


async def _execute(app: DispatchApplication, ports: Ports, body: bytes, raw: Msg) -> CommandReply:
    try:
        command = decode_dispatch_command(body)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        COMMANDS.labels("invalid", "422").inc()
        return CommandReply(ok=False, status=422, error=f"invalid command: {exc}")
    name = type(command).__name__
    subject = None if isinstance(command, RosterCommand) else command.complaint_no
    structlog.contextvars.bind_contextvars(correlation_id=subject or "roster")
    causation_id = f"command:{name}:{command.actor.id}:{raw.reply or ''}"
    try:
        now = ports.clock.now()
        events = await asyncio.to_thread(app.execute, command, now, causation_id)
    except Forbidden as exc:
        log.warning("command_refused", command=name, actor=command.actor.id, role=command.actor.role, reason=str(exc))
        COMMANDS.labels(name, "403").inc()
        return CommandReply(ok=False, status=403, complaint_no=subject, error=str(exc))
    except UnknownComplaint as exc:
        COMMANDS.labels(name, "404").inc()
        return CommandReply(ok=False, status=404, complaint_no=subject, error=str(exc))
    except (CommandRejected, CalendarOutOfRange) as exc:
        log.info("command_rejected", command=name, actor=command.actor.id, reason=str(exc))
        COMMANDS.labels(name, "409").inc()
        return CommandReply(ok=False, status=409, complaint_no=subject, error=str(exc))
    except ClockNotStarted as exc:
        COMMANDS.labels(name, "503").inc()
        return CommandReply(ok=False, status=503, complaint_no=subject, error=str(exc))
    finally:
        structlog.contextvars.unbind_contextvars("correlation_id")
    COMMANDS.labels(name, "200").inc()
    return CommandReply(ok=True, status=200, complaint_no=subject, events=events)
