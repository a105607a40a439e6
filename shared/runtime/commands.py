"""Running a staff command that arrived over NATS request/reply, the same way in every service.

The reply always says what happened: 200 with the events recorded; 422 for a command that does not
decode; 403 for a role that may not act (also logged: refusals are audited); 404 for an unknown
subject; 409 when it does not fit the state or conflicted with a concurrent change (nothing was
recorded); 413 when an event it would record is too large to publish (`EventTooLarge`, nothing was
recorded); 503 while an external clock has not ticked yet.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import structlog
from eventsourcing.persistence import IntegrityError
from prometheus_client import Counter

from shared.events.commands import CommandReply
from shared.runtime.clock import ClockNotStarted, ServiceClock
from shared.runtime.failures import EventTooLarge

COMMANDS = Counter("aftersales_commands_total", "Staff commands by service, command and status",
                   ["service", "command", "status"])  # fmt: skip
log = structlog.get_logger()


@dataclass(frozen=True)
class CommandErrors:
    """Which of a service's exceptions mean which answer."""

    forbidden: tuple[type[Exception], ...]
    unknown: tuple[type[Exception], ...]
    rejected: tuple[type[Exception], ...]


async def execute_command(
    service: str,
    body: bytes,
    reply_subject: str | None,
    decode: Callable[[bytes], Any],
    run: Callable[[Any, dt.datetime, str], tuple[str | None, list[str]]],
    clock: ServiceClock,
    errors: CommandErrors,
) -> CommandReply:
    """Decode, stamp with the service clock's `now`, run (in a thread), and answer."""
    try:
        command = decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        COMMANDS.labels(service, "invalid", "422").inc()
        return CommandReply(ok=False, status=422, error=f"invalid command: {exc}")
    name = type(command).__name__
    subject = getattr(command, "complaint_no", None) or getattr(command, "part_id", None)
    actor = command.actor
    structlog.contextvars.bind_contextvars(correlation_id=subject)
    causation_id = f"command:{name}:{actor.id}:{reply_subject or ''}"

    def answer(status: int, error: str) -> CommandReply:
        COMMANDS.labels(service, name, str(status)).inc()
        return CommandReply(ok=False, status=status, complaint_no=subject, error=error)

    try:
        now = clock.now()
        complaint_no, events = await asyncio.to_thread(run, command, now, causation_id)
    except errors.forbidden as exc:
        log.warning("command_refused", command=name, actor=actor.id, role=actor.role, reason=str(exc))
        return answer(403, str(exc))
    except errors.unknown as exc:
        return answer(404, str(exc))
    except errors.rejected as exc:
        log.info("command_rejected", command=name, actor=actor.id, reason=str(exc))
        return answer(409, str(exc))
    except IntegrityError:
        # Another writer (a timer, a concurrent command) changed it meanwhile; nothing was recorded.
        return answer(409, "changed meanwhile by another action; try again")
    except EventTooLarge as exc:
        log.info("command_rejected", command=name, actor=actor.id, reason=str(exc))
        return answer(413, str(exc))
    except ClockNotStarted as exc:
        return answer(503, str(exc))
    finally:
        structlog.contextvars.unbind_contextvars("correlation_id")
    COMMANDS.labels(service, name, "200").inc()
    return CommandReply(ok=True, status=200, complaint_no=complaint_no or subject, events=events)
