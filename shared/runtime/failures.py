"""The three kinds of failure (poison, transient, backpressure), one definition for every service.

- `PermanentFailure`: a problem with one message, command or timer that no retry can fix (its data, a
  domain refusal, an event too large to publish). The unit is dead-lettered (a message) or parked (a
  timer) with the reason, and everything around it moves on.
- Transient (`is_transient`): the database or the broker is away. Not acknowledged, retried with
  backoff, and after `MAX_DELIVERIES` deliveries dead-lettered with "gave up after N deliveries".
- Anything else in a batch: the batch is split until the culprit is isolated; the culprit is then
  treated as permanent.

Parked timers live in `<schema>.parked_timers (timer_id text PRIMARY KEY, reason text NOT NULL,
parked_at timestamptz NOT NULL)`; a parked timer is not fired again until an operator releases it.
"""

from __future__ import annotations

import asyncio

import nats.errors
import psycopg

MAX_DELIVERIES = 5
"""How many times a message is delivered before a transient failure gives up on it (dead letter)."""


class PermanentFailure(Exception):
    """No retry can fix this one unit of work; its reason is what the operator reads."""


class EventTooLarge(PermanentFailure):
    """An event whose stored form could never be published to the broker (its max payload)."""


class RetryLater(Exception):
    """Transient by construction: the unit kept conflicting with concurrent writers; try it again."""


def is_transient(exc: BaseException) -> bool:
    """Database or broker away, or a bounded wait ran out: worth another delivery."""
    return isinstance(
        exc,
        psycopg.OperationalError
        | psycopg.errors.SerializationFailure
        | psycopg.errors.DeadlockDetected
        | nats.errors.ConnectionClosedError
        | nats.errors.TimeoutError
        | nats.errors.NoRespondersError
        | asyncio.TimeoutError
        | ConnectionError
        | RetryLater,
    )
