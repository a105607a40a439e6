"""Settle a batch message by message: what commits, what is poison, what comes back later.

`settle(units, apply)` runs `apply` (one transaction for the whole batch, idempotent per unit) and,
if it fails, splits the batch until each failure is pinned on one unit (the unit of failure
is one message, never a batch):
- a unit that fails alone with a transient error (`is_transient`, also behind the eventsourcing
  library's translated errors) comes back: the consumer naks it with a growing delay, and after
  `MAX_DELIVERIES` deliveries dead-letters it with "gave up after N deliveries: <reason>";
- a unit that fails alone with anything else (a `PermanentFailure`, a domain refusal, a bug) is poison;
- if both halves of a batch fail transiently, the database or broker is away for everyone: the
  whole batch comes back at once instead of being split further.

Every other unit is committed, at most `2·log2(n) + 1` attempts per failing unit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from shared.runtime.failures import MAX_DELIVERIES, PermanentFailure, is_transient

U = TypeVar("U")
R = TypeVar("R")

RETRY_FACTOR = 4
RETRY_CAP_S = 300.0


@dataclass
class Settlement(Generic[U, R]):
    results: list[R] = field(default_factory=list)
    """What each successful `apply` returned (one per committed part of the batch)."""
    committed: list[U] = field(default_factory=list)
    poison: list[tuple[U, str]] = field(default_factory=list)
    retry: list[tuple[U, str]] = field(default_factory=list)
    attempts: int = 0


def settle(units: Sequence[U], apply: Callable[[Sequence[U]], R]) -> Settlement[U, R]:
    """Blocking; run it on the consumer's database thread."""
    outcome: Settlement[U, R] = Settlement()
    if units:
        _settle(list(units), apply, outcome, None)
    return outcome


def _attempt(units: list[U], apply: Callable[[Sequence[U]], R], outcome: Settlement[U, R]) -> Exception | None:
    outcome.attempts += 1
    try:
        result = apply(units)
    except Exception as exc:  # classified by the caller: transient, or isolated by splitting
        return exc
    outcome.results.append(result)
    outcome.committed.extend(units)
    return None


def _settle(
    units: list[U], apply: Callable[[Sequence[U]], R], outcome: Settlement[U, R], failure: Exception | None
) -> None:
    failure = failure or _attempt(units, apply, outcome)
    if failure is None:
        return
    if len(units) == 1:
        if transient(failure):
            outcome.retry.append((units[0], reason_of(failure)))
        else:
            outcome.poison.append((units[0], reason_of(failure)))
        return
    middle = len(units) // 2
    halves = [units[:middle], units[middle:]]
    failures = [_attempt(half, apply, outcome) for half in halves]
    if transient(failure) and all(f is not None and transient(f) for f in failures):
        outcome.retry.extend((unit, reason_of(failure)) for unit in units)  # away for everyone
        return
    for half, half_failure in zip(halves, failures, strict=True):
        if half_failure is not None:
            _settle(half, apply, outcome, half_failure)


@dataclass
class InOrder(Generic[U]):
    """`settle_in_order`: `handled` (committed or poison) is a prefix of the units; `rest` starts
    with the unit that failed transiently (`retry_reason`) and holds everything after it."""

    handled: list[U] = field(default_factory=list)
    poison: list[tuple[U, str]] = field(default_factory=list)
    rest: list[U] = field(default_factory=list)
    retry_reason: str = ""
    attempts: int = 0


def settle_in_order(
    units: Sequence[U], apply: Callable[[Sequence[U]], object], refused: Callable[[U], str | None]
) -> InOrder[U]:
    """For consumers that track a position: units are applied strictly in order. A unit that
    `refused` names a reason for (undecodable), or that fails alone with a non-transient error, is
    poison and the position moves past it; at the first transient failure everything from that
    unit on comes back later, in order. Blocking; run it on a worker thread."""
    outcome: InOrder[U] = InOrder()
    segment: list[U] = []
    for index, unit in enumerate(units):
        reason = refused(unit)
        if reason is None:
            segment.append(unit)
            continue
        if segment and not _in_order(segment, apply, outcome, None):
            outcome.rest.extend(units[index:])
            return outcome
        segment = []
        outcome.handled.append(unit)
        outcome.poison.append((unit, reason))
    if segment:
        _in_order(segment, apply, outcome, None)
    return outcome


def _in_order(
    units: list[U], apply: Callable[[Sequence[U]], object], outcome: InOrder[U], failure: Exception | None
) -> bool:
    """False when stopped at a transient failure (`outcome.rest` then holds it and what follows)."""
    if failure is None:
        outcome.attempts += 1
        try:
            apply(units)
        except Exception as exc:  # classified below: transient, or isolated by splitting
            failure = exc
        else:
            outcome.handled.extend(units)
            return True
    if len(units) == 1:
        if transient(failure):
            outcome.rest.append(units[0])
            outcome.retry_reason = reason_of(failure)
            return False
        outcome.handled.append(units[0])
        outcome.poison.append((units[0], reason_of(failure)))
        return True
    middle = len(units) // 2
    if not _in_order(units[:middle], apply, outcome, None):
        outcome.rest.extend(units[middle:])
        return False
    return _in_order(units[middle:], apply, outcome, None)


def transient(exc: BaseException) -> bool:
    """`is_transient` for an exception or anything it was translated from (the eventsourcing
    library re-raises psycopg's errors as its own, `from` the original)."""
    seen: BaseException | None = exc
    while seen is not None:
        if is_transient(seen):
            return True
        seen = seen.__cause__
    return False


def reason_of(exc: BaseException) -> str:
    if isinstance(exc, PermanentFailure):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def retry_delay(num_delivered: int, base_s: float) -> float:
    """Backoff before the next delivery: base, 4×base, 16×base, … capped at five minutes."""
    return float(min(base_s * RETRY_FACTOR ** max(num_delivered - 1, 0), RETRY_CAP_S))


def gives_up(num_delivered: int) -> bool:
    """Whether a transient failure on this delivery is the last one tried (then dead-lettered)."""
    return num_delivered >= MAX_DELIVERIES


def gave_up_reason(num_delivered: int, reason: str) -> str:
    return f"gave up after {num_delivered} deliveries: {reason}"
