"""The fire loop every service's clock runs: each due timer fires once, and one that fails is parked.

A service says how to load a timer's aggregate (`Load`), what the timer does to it (`Fire`) and how
it is saved (`Save`, with `fired=[timer_id]` in the same transaction). Failures (`shared/runtime/failures.py`):
- transient (database away): raised, so the tick fails and the next tick tries again;
- a timer someone else fired meanwhile (or whose aggregate changed): `IntegrityError`, tried next round;
  the same conflict twice in one run is not a race but a fault of that timer: it is parked;
- anything else (a domain refusal, a `PermanentFailure`, a bug): that timer is parked with its reason,
  an alert is logged and counted, and every other timer still fires.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import structlog
from eventsourcing.persistence import IntegrityError
from prometheus_client import Counter, Gauge

from shared.runtime.batches import transient
from shared.runtime.store import AftersalesRecorder, Timer

PARKED = Counter("aftersales_timer_parkings_total", "Timers parked because firing them failed", ["service"])
PARKED_NOW = Gauge("aftersales_timers_parked", "Timers parked and not yet released", ["service"])
log = structlog.get_logger()

Load = Callable[[uuid.UUID], Any]
Fire = Callable[[Any, Timer], None]
"""Apply one timer to its aggregate (pending events, saved by the loop)."""
Save = Callable[..., Any]
"""Save aggregates with keyword arguments for the recorder (`fired`, `fired_at`)."""

MAX_ROUNDS = 10_000


def fire_due_timers(
    service: str,
    recorder: AftersalesRecorder,
    now: dt.datetime,
    load: Load,
    fire: Fire,
    save: Save,
    limit: int = 500,
    in_batches: bool = False,
) -> int:
    """Fire every timer the clock has passed (also the ones a firing schedules); return how many fired.

    `in_batches`: first try each round's timers in one transaction (fast), and only if that fails
    fire them one at a time, which isolates (and parks) a failing one."""
    PARKED_NOW.labels(service).set(recorder.parked_count())  # also after a release from the command line
    fired = 0
    conflicted: set[str] = set()
    for _ in range(MAX_ROUNDS):
        due = recorder.due_timers(now, limit)
        if not due:
            break
        if in_batches and len(due) > 1 and _fire_together(due, now, load, fire, save):
            fired += len(due)
        else:
            fired += sum(_fire_one(service, recorder, timer, now, load, fire, save, conflicted) for timer in due)
    return fired


def _fire_together(due: Sequence[Timer], now: dt.datetime, load: Load, fire: Fire, save: Save) -> bool:
    aggregates: dict[uuid.UUID, Any] = {}
    try:
        for timer in due:
            if timer.aggregate_id not in aggregates:
                aggregates[timer.aggregate_id] = load(timer.aggregate_id)
            fire(aggregates[timer.aggregate_id], timer)
        save(list(aggregates.values()), fired=[t.timer_id for t in due], fired_at=now)
    except Exception as exc:  # isolate below, one timer at a time; a transient failure recurs there
        log.info("timers_batch_split", size=len(due), error=repr(exc))
        return False
    return True


def _fire_one(
    service: str,
    recorder: AftersalesRecorder,
    timer: Timer,
    now: dt.datetime,
    load: Load,
    fire: Fire,
    save: Save,
    conflicted: set[str],
) -> int:
    try:
        aggregate = load(timer.aggregate_id)
        fire(aggregate, timer)
        save([aggregate], fired=[timer.timer_id], fired_at=now)
    except IntegrityError as exc:
        if timer.timer_id not in conflicted:
            conflicted.add(timer.timer_id)
            return 0  # fired by someone else meanwhile, or the aggregate changed: next round
        park(service, recorder, timer, now, f"conflicts again on a second try: {exc}")
        return 0
    except Exception as exc:
        if transient(exc):
            raise
        park(service, recorder, timer, now, f"{type(exc).__name__}: {exc}")
        return 0
    return 1


def park(service: str, recorder: AftersalesRecorder, timer: Timer, now: dt.datetime, reason: str) -> None:
    """Set one timer aside with its reason, and alert: the operator releases it once fixed."""
    recorder.park_timer(timer.timer_id, reason, now)
    PARKED.labels(service).inc()
    PARKED_NOW.labels(service).set(recorder.parked_count())
    log.error("timer_parked", service=service, timer_id=timer.timer_id, kind=timer.kind, reason=reason)
