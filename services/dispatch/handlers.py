"""Dispatch's faststream subscribers: parse, call the application, reply or ack. Nothing else.

- intake's domain events: a durable batch consumer (`shared.runtime.upstream`); each batch is
  applied exactly once, with intake's position saved in the same transaction.
- staff commands: request/reply on `aftersales.cmd.dispatch`; a refusal is answered with a clear
  reason (403/404/409/422/503) and logged, never silent.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import structlog
from faststream.nats import NatsMessage, NatsRouter
from nats.aio.msg import Msg

from services.dispatch.application import DispatchApplication, Forbidden, UnknownComplaint
from services.dispatch.domain import CommandRejected
from shared.events.commands import CommandReply, decode_dispatch_command
from shared.events.envelope import Envelope
from shared.events.subjects import Names
from shared.runtime.commands import CommandErrors, execute_command
from shared.runtime.partitions import Partitioning
from shared.runtime.service import Ports, raw_batch
from shared.runtime.upstream import subscribe_upstream
from shared.security.duties import SeparationOfDuties
from shared.workcal import CalendarOutOfRange

_reply = msgspec.json.Encoder()
log = structlog.get_logger()


def build_router(
    app: DispatchApplication, ports: Ports, names: Names, batch_size: int, partitioning: Partitioning | None = None
) -> NatsRouter:
    router = NatsRouter()

    def on_intake(upstream: str, envelopes: Sequence[Envelope], tracking: str) -> int:
        return app.handle_upstream(upstream, envelopes, tracking)

    subscribe_upstream(
        router, ports, names, "dispatch", "intake", on_intake, batch_size=min(batch_size, 200),
        description="intake's events: complaints received, faults classified (on-site), who pays, and the fines "
        "and escalations intake raised.", partitioning=partitioning,
    )  # fmt: skip
    subscribe_upstream(
        router, ports, names, "dispatch", "parts", on_intake, batch_size=min(batch_size, 200),
        description="old parts' fines (FIN-PART-LATE), noted so they can be disputed and reversed here.",
        partitioning=partitioning,
    )  # fmt: skip

    if partitioning is not None and not partitioning.leader:
        return router  # staff commands go to the leader only (its clock follows the ticks)

    @router.subscriber(
        names.commands("dispatch"),
        decoder=raw_batch,
        title="dispatch/commands",
        description="Staff commands (request/reply): roster, fee consent, deputy GM approval, assignment, arrival, "
        "service form, return approval, return, report, audit, follow-up, fines, escalations. Replies with "
        "CommandReply; the caller's credential travels in the Authorization header (401 without a valid one).",
    )
    async def on_command(body: bytes, msg: NatsMessage) -> bytes:
        reply = await _execute(app, ports, body, msg.raw_message)
        if reply.ok:
            ports.relay_wakeup.set()
        return _reply.encode(reply)

    return router


async def _execute(app: DispatchApplication, ports: Ports, body: bytes, raw: Msg) -> CommandReply:
    errors = CommandErrors(
        forbidden=(Forbidden, SeparationOfDuties),
        unknown=(UnknownComplaint,),
        rejected=(CommandRejected, CalendarOutOfRange),
    )
    return await execute_command(
        "dispatch",
        body,
        raw.reply,
        decode_dispatch_command,
        lambda command, now, causation: (None, app.execute(command, now, causation)),
        ports.clock,
        errors,
        raw.headers,
        ports.authenticator,
    )
