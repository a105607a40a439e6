"""Parts' faststream subscribers: parse, call the application, reply. Nothing else.

- dispatch's domain events (`aftersales.dispatch.>`) through `subscribe_upstream`: exactly once, by the
  tracked upstream position saved with the parts recorded (see shared/runtime/upstream.py for acks);
- staff commands on `aftersales.cmd.parts` (request/reply): a refusal is answered with a clear reason
  (403 role, 404 unknown part, 409 rule or state, 422 invalid) and logged.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import msgspec
import structlog
from eventsourcing.persistence import IntegrityError
from faststream.nats import NatsMessage, NatsRouter
from nats.aio.msg import Msg
from prometheus_client import Counter

from services.parts.application import Forbidden, PartsApplication, UnknownPart
from services.parts.domain import CommandRejected
from shared.events.commands import CommandReply, decode_parts_command
from shared.events.envelope import Envelope
from shared.events.subjects import Names
from shared.runtime.clock import ClockNotStarted
from shared.runtime.service import Ports, raw_batch
from shared.runtime.upstream import subscribe_upstream

COMMANDS = Counter("aftersales_parts_commands_total", "Parts staff commands by outcome", ["command", "status"])
_reply = msgspec.json.Encoder()
log = structlog.get_logger()


def build_router(app: PartsApplication, ports: Ports, names: Names, batch_size: int) -> NatsRouter:
    router = NatsRouter()

    def on_dispatch(upstream: str, envelopes: Sequence[Envelope]) -> int:
        return app.on_upstream(upstream, envelopes)

    subscribe_upstream(router, ports, names, "parts", "dispatch", on_dispatch, batch_size=batch_size,
                       description="Parts replaced on signed service forms (PartsReplaced → PRT-RECORD).")  # fmt: skip

    @router.subscriber(
        names.commands("parts"),
        decoder=raw_batch,
        title="parts/commands",
        description="Old-parts staff commands (request/reply): record_part, record_market_price, report_delay, "
        "hand_in, recover, ship, receive_at_hq, decide_disposition, report_sale, verify_sale, approve_sale, "
        "record_sale, request_disposal, approve_disposal, dispose, start_review, settle_responsibility, "
        "settle_claim. Replies with CommandReply.",
    )
    async def on_command(body: bytes, msg: NatsMessage) -> bytes:
        reply = await _execute(app, ports, body, msg.raw_message)
        if reply.ok:
            ports.relay_wakeup.set()
        return _reply.encode(reply)

    return router


async def _execute(app: PartsApplication, ports: Ports, body: bytes, raw: Msg) -> CommandReply:
    """Run a staff command. A refusal is answered with a clear reason and logged, never silent."""
    try:
        command = decode_parts_command(body)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        COMMANDS.labels("invalid", "422").inc()
        return CommandReply(ok=False, status=422, error=f"invalid command: {exc}")
    name = type(command).__name__
    subject = getattr(command, "part_id", None) or getattr(command, "complaint_no", None)
    causation_id = f"command:{name}:{command.actor.id}:{raw.reply or ''}"
    try:
        now = ports.clock.now()
        complaint_no, events = await asyncio.to_thread(app.execute, command, now, causation_id)
    except Forbidden as exc:
        log.warning("command_refused", command=name, actor=command.actor.id, role=command.actor.role, reason=str(exc))
        COMMANDS.labels(name, "403").inc()
        return CommandReply(ok=False, status=403, error=str(exc))
    except UnknownPart as exc:
        COMMANDS.labels(name, "404").inc()
        return CommandReply(ok=False, status=404, error=str(exc))
    except CommandRejected as exc:
        log.info("command_rejected", command=name, actor=command.actor.id, part=subject, reason=str(exc))
        COMMANDS.labels(name, "409").inc()
        return CommandReply(ok=False, status=409, error=str(exc))
    except IntegrityError:
        # Another writer (a timer, a concurrent command) changed it meanwhile; nothing was recorded.
        COMMANDS.labels(name, "409").inc()
        return CommandReply(ok=False, status=409, error="changed meanwhile by another action; try again")
    except ClockNotStarted as exc:
        COMMANDS.labels(name, "503").inc()
        return CommandReply(ok=False, status=503, error=str(exc))
    COMMANDS.labels(name, "200").inc()
    return CommandReply(ok=True, status=200, complaint_no=complaint_no or None, events=events)
