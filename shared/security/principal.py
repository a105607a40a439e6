"""Who is acting (docs/contract.md §6, Identity): the principal a credential proves.

A principal comes from a credential alone — a built-in API token (`aftersales users add`) or an OIDC
bearer JWT — never from a request body. `acted_by` writes it into an event's causation id, which every
stored and published event already carries, and `parse_causation` reads it back for replay and the
dossier.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from shared.events.commands import Role

Method = Literal["token", "oidc"]
READ_ONLY_ROLES: frozenset[str] = frozenset({"viewer"})
"""Roles that may read (reports, complaints) and may not send any command."""


class Principal(msgspec.Struct, frozen=True):
    id: str
    name: str
    role: Role
    department: str | None
    credential_id: str
    method: Method


class Unauthenticated(Exception):
    """No credential, or one that does not prove anybody (unknown, revoked, expired, bad signature): 401."""


class ActedBy(msgspec.Struct, frozen=True):
    """The principal recorded in a command's causation id."""

    command: str
    actor: str
    role: str | None = None
    method: str | None = None
    credential_id: str | None = None


def acted_by(command: str, principal: Principal, reply_subject: str | None) -> str:
    """The causation id of the events a command records: `command:<Command>:<id>:<role>:<method>:<credential>:<reply>`.
    Ids and roles hold no `:` (checked where they are issued); an OIDC credential id is a digest."""
    return ":".join(
        (
            "command",
            command,
            principal.id,
            principal.role,
            principal.method,
            principal.credential_id,
            reply_subject or "",
        )
    )


def parse_causation(causation_id: str) -> ActedBy | None:
    """Who acted, from a causation id written by `acted_by` (or the older `command:<Command>:<id>:<reply>`,
    which names the person as the body declared them, not as a credential proved); None for other causes."""
    parts = causation_id.split(":")
    if len(parts) < 3 or parts[0] != "command":
        return None
    if len(parts) >= 7 and parts[4] in ("token", "oidc"):
        return ActedBy(command=parts[1], actor=parts[2], role=parts[3], method=parts[4], credential_id=parts[5])
    return ActedBy(command=parts[1], actor=parts[2])


def describe(acted: ActedBy) -> str:
    """One line for people: `tq-003 (tq), token tok-1a2b3c` or `agent-017 (not authenticated)`."""
    if acted.method is None:
        return f"{acted.actor} (not authenticated: declared in the command)"
    how = "API token" if acted.method == "token" else "OIDC"
    return f"{acted.actor} ({acted.role}), {how} {acted.credential_id}"
