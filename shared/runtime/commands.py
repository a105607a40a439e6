"""Running a staff command that arrived over NATS request/reply, the same way in every service.

Every command carries the caller's credential in its `Authorization` header (the api forwards the one
it was given), and the service checks it again (`shared/security/authn.py`): the acting person and role
come from the credential alone; a body may omit `actor`, and one that names another person or role is
refused. The events record who acted and how they were authenticated in their causation id
(`shared/security/principal.py`, `acted_by`).

The reply always says what happened: 200 with the events recorded; 401 without a valid credential;
422 for a command that does not decode; 403 for a role that may not act, a read-only role, a forged
`actor`, or a decision about oneself (also logged with the principal: refusals are audited); 404 for an unknown
subject; 409 when it does not fit the state or conflicted with a concurrent change (nothing was
recorded); 413 when an event it would record is too large to publish (`EventTooLarge`, nothing was
recorded); 503 while an external clock has not ticked yet, or while the credential store is away.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
import psycopg
import structlog
from eventsourcing.persistence import IntegrityError
from prometheus_client import Counter

from shared.events.commands import CommandReply
from shared.runtime.clock import ClockNotStarted, ServiceClock
from shared.runtime.failures import EventTooLarge
from shared.security.authn import AUTH_HEADER, Authenticator, bearer
from shared.security.principal import READ_ONLY_ROLES, Principal, Unauthenticated, acted_by

COMMANDS = Counter("aftersales_commands_total", "Staff commands by service, command and status",
                   ["service", "command", "status"])  # fmt: skip
log = structlog.get_logger()


@dataclass(frozen=True)
class CommandErrors:
    """Which of a service's exceptions mean which answer."""

    forbidden: tuple[type[Exception], ...]
    unknown: tuple[type[Exception], ...]
    rejected: tuple[type[Exception], ...]


async def authenticate_command(
    service: str, headers: Mapping[str, str] | None, authenticator: Authenticator
) -> Principal | CommandReply:
    """The principal of a command's credential, or the 401 reply."""
    credential = bearer((headers or {}).get(AUTH_HEADER))
    try:
        return await asyncio.to_thread(authenticator.authenticate_credential, credential)
    except Unauthenticated as exc:
        COMMANDS.labels(service, "unauthenticated", "401").inc()
        log.warning("command_unauthenticated", service=service, reason=str(exc))
        return CommandReply(ok=False, status=401, error=f"not authenticated: {exc}")
    except psycopg.OperationalError as exc:  # the credential store is away (a pool timeout included)
        COMMANDS.labels(service, "unauthenticated", "503").inc()
        log.warning("command_credentials_away", service=service, error=repr(exc))
        return CommandReply(ok=False, status=503, error="the credential store (PostgreSQL) is not reachable")


_fields = msgspec.json.Decoder(dict[str, msgspec.Raw])


def as_principal(body: bytes, principal: Principal) -> bytes | str:
    """The command with the principal as its `actor` (every other field passed on byte for byte), or
    why not: a body naming another actor is forged."""
    try:
        message = _fields.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return body  # the decoder names the problem (422)
    if "actor" in message:
        try:
            declared: Any = msgspec.json.decode(message["actor"])
        except msgspec.DecodeError:
            declared = None
        who = (declared.get("id"), declared.get("role")) if isinstance(declared, dict) else None
        if who != (principal.id, principal.role):
            return (
                f"the body's actor {declared!r} is not the authenticated {principal.id} ({principal.role}); "
                "the acting person comes from the credential, omit `actor`"
            )
    message["actor"] = msgspec.Raw(msgspec.json.encode({"id": principal.id, "role": principal.role}))
    return msgspec.json.encode(message)


async def execute_command(
    service: str,
    body: bytes,
    reply_subject: str | None,
    decode: Callable[[bytes], Any],
    run: Callable[[Any, dt.datetime, str], tuple[str | None, list[str]]],
    clock: ServiceClock,
    errors: CommandErrors,
    headers: Mapping[str, str] | None,
    authenticator: Authenticator,
) -> CommandReply:
    """Authenticate, decode, stamp with the service clock's `now`, run (in a thread), and answer."""
    principal = await authenticate_command(service, headers, authenticator)
    if isinstance(principal, CommandReply):
        return principal
    who = {"actor": principal.id, "role": principal.role, "credential_id": principal.credential_id,
           "method": principal.method}  # fmt: skip
    stamped = as_principal(body, principal)
    if isinstance(stamped, str) or principal.role in READ_ONLY_ROLES:
        reason = stamped if isinstance(stamped, str) else f"role {principal.role!r} is read-only: no commands"
        COMMANDS.labels(service, "refused", "403").inc()
        log.warning("command_refused", service=service, reason=reason, **who)
        return CommandReply(ok=False, status=403, error=reason)
    try:
        command = decode(stamped)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        COMMANDS.labels(service, "invalid", "422").inc()
        return CommandReply(ok=False, status=422, error=f"invalid command: {exc}")
    name = type(command).__name__
    subject = getattr(command, "complaint_no", None) or getattr(command, "part_id", None)
    structlog.contextvars.bind_contextvars(correlation_id=subject)
    causation_id = acted_by(name, principal, reply_subject)

    def answer(status: int, error: str) -> CommandReply:
        COMMANDS.labels(service, name, str(status)).inc()
        return CommandReply(ok=False, status=status, complaint_no=subject, error=error)

    try:
        now = clock.now()
        complaint_no, events = await asyncio.to_thread(run, command, now, causation_id)
    except errors.forbidden as exc:
        log.warning("command_refused", command=name, reason=str(exc), **who)
        return answer(403, str(exc))
    except errors.unknown as exc:
        return answer(404, str(exc))
    except errors.rejected as exc:
        log.info("command_rejected", command=name, reason=str(exc), **who)
        return answer(409, str(exc))
    except IntegrityError:
        # Another writer (a timer, a concurrent command) changed it meanwhile; nothing was recorded.
        return answer(409, "changed meanwhile by another action; try again")
    except EventTooLarge as exc:
        log.info("command_rejected", command=name, reason=str(exc), **who)
        return answer(413, str(exc))
    except ClockNotStarted as exc:
        return answer(503, str(exc))
    finally:
        structlog.contextvars.unbind_contextvars("correlation_id")
    COMMANDS.labels(service, name, "200").inc()
    return CommandReply(ok=True, status=200, complaint_no=complaint_no or subject, events=events)
