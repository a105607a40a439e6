"""Parts' faststream subscribers: parse, call the application, reply. Nothing else.

- dispatch's domain events (`aftersales.dispatch.>`) through `subscribe_upstream`: exactly once, by the
  tracked upstream position saved with the parts recorded (see shared/runtime/upstream.py for acks);
- staff commands on `aftersales.cmd.parts` (request/reply): a refusal is answered with a clear reason
  (403 role, 404 unknown part, 409 rule or state, 422 invalid) and logged.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import structlog
from faststream.nats import NatsMessage, NatsRouter
from nats.aio.msg import Msg

from services.parts.application import Forbidden, PartsApplication, UnknownPart
from services.parts.domain import CommandRejected
from shared.events.commands import CommandReply, decode_parts_command
from shared.events.envelope import Envelope
from shared.events.subjects import Names
from shared.runtime.commands import CommandErrors, execute_command
from shared.runtime.partitions import Partitioning
from shared.runtime.service import Ports, raw_batch
from shared.runtime.upstream import subscribe_upstream
from shared.security.duties import SeparationOfDuties

_reply = msgspec.json.Encoder()
log = structlog.get_logger()


def build_router(
    app: PartsApplication, ports: Ports, names: Names, batch_size: int, partitioning: Partitioning | None = None
) -> NatsRouter:
    router = NatsRouter()

    def on_dispatch(upstream: str, envelopes: Sequence[Envelope], tracking: str) -> int:
        return app.on_upstream(upstream, envelopes, tracking)

    subscribe_upstream(router, ports, names, "parts", "dispatch", on_dispatch, batch_size=batch_size,
                       description="Parts replaced on signed service forms (PartsReplaced → PRT-RECORD).",
                       partitioning=partitioning)  # fmt: skip

    if partitioning is not None and not partitioning.leader:
        return router  # staff commands go to the leader only (its clock follows the ticks)

    @router.subscriber(
        names.commands("parts"),
        decoder=raw_batch,
        title="parts/commands",
        description="Old-parts staff commands (request/reply): record_part, record_market_price, report_delay, "
        "hand_in, recover, ship, receive_at_hq, decide_disposition, report_sale, verify_sale, approve_sale, "
        "record_sale, request_disposal, approve_disposal, dispose, start_review, settle_responsibility, "
        "settle_claim. Replies with CommandReply; "
        "the caller's credential travels in the Authorization header (401 without a valid one).",
    )
    async def on_command(body: bytes, msg: NatsMessage) -> bytes:
        reply = await _execute(app, ports, body, msg.raw_message)
        if reply.ok:
            ports.relay_wakeup.set()
        return _reply.encode(reply)

    return router


async def _execute(app: PartsApplication, ports: Ports, body: bytes, raw: Msg) -> CommandReply:
    errors = CommandErrors(
        forbidden=(Forbidden, SeparationOfDuties), unknown=(UnknownPart,), rejected=(CommandRejected,)
    )
    return await execute_command("parts", body, raw.reply, decode_parts_command, app.execute, ports.clock, errors,
                                 raw.headers, ports.authenticator)  # fmt: skip
