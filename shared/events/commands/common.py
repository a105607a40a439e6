"""What every staff command shares (docs/rules.md §7): the acting person and their role, the reply.

Commands are sent by the HTTP entry point (or the `aftersales` command line) to the owning service over
NATS request/reply. Each names the acting person and their role (`actor`), which the service sets from the
caller's credential (docs/contract.md §6; a different one is refused), and checks the role."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

NonEmpty = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
Role = Literal[
    "agent", "tq", "engineer", "warehouse_keeper", "old_parts_officer", "branch_manager", "deputy_gm", "gm",
    "finance", "ops", "viewer",
]  # fmt: skip
"""Staff roles. `viewer` is read-only (dashboards, reporting tools): reads and reports, no command."""


class Actor(msgspec.Struct, frozen=True):
    id: NonEmpty
    role: Role


class CommandReply(msgspec.Struct, frozen=True, omit_defaults=True):
    ok: bool
    status: int
    complaint_no: str | None = None
    events: list[str] = msgspec.field(default_factory=list)
    error: str | None = None


_reply_decoder = msgspec.json.Decoder(CommandReply)


def decode_reply(raw: bytes) -> CommandReply:
    reply: CommandReply = _reply_decoder.decode(raw)
    return reply
