"""One deadline engine for every service (docs/rules.md §9 "Calendar"): set, meet, breach (at most
once), the consequences of a breach, and when a due minute is still in time. Pure and typed: no I/O,
no clock; an aggregate keeps a `Deadlines` value and records what the engine returns as its events.

The behaviour, decided once (intake and dispatch had each written their own and drifted):

- **Set** (`Deadlines.set`): setting a deadline again *replaces its due time*; whether and when it was
  met or breached stays. A rule whose clock runs from a fixed start and must not be restarted says so
  with `keep_first` (`Deadlines.settable(rule, keep_first=True)` is False once it is set: nothing is
  recorded). Intake's deadlines are replaced (a fault classified again gets the first-response
  deadline of its new level); dispatch's keep the first (DSP-ARRIVE runs from receipt: a re-dispatch
  after a withdrawal must not restart it) — both exactly as each service did before, now one engine
  with the difference stated per rule instead of two drifted implementations.
- **In time** (`in_time`): the due minute itself is still in time; one microsecond later is late.
- **Breach** (`breach`): only an open deadline (neither met nor breached) past its due time is
  breached, and only once; the breach carries its reason (`missed`) for the consequences (a fine, an
  escalation) the service attaches under its own rule ids (`Consequences`).
- **Meet** (`meet`): a deadline met after its due time that was not breached yet is breached first,
  at the moment it was met, with the same consequences as a timer would have given, then met late.
  (Dispatch did this inside its `_meet`; intake got the same by breaching every overdue deadline
  before a command, `overdue`, which the engine keeps as the way to bring an aggregate up to `now`.
  Both orders give the same events, because a deadline past due at the meeting time is exactly one
  that `overdue` would have breached first.) A deadline met once stays met.

The due time itself comes from the service's rule (its policy computes it on the working calendar,
`shared.workcal`); `DueIn` is the shared form of the two kinds of due time the rules use.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from typing import Literal

import msgspec
from msgspec import UNSET, UnsetType

from shared.workcal import WorkingCalendar, WorkingHours, add_working_hours, end_of_working_days


class Deadline(msgspec.Struct, frozen=True):
    """One deadline as its decision set it, and what met or breached it (times as ISO 8601 text,
    exactly as recorded). `met_by` and `on_breach_escalate_to` are set only when the decision said so
    (INT-LEVELS from intake-2026.2): UNSET means the rule did not say."""

    rule: str
    due_at: str
    met_at: str | None = None
    breached_at: str | None = None
    met_by: str | UnsetType = UNSET
    on_breach_escalate_to: str | UnsetType | None = UNSET

    @property
    def due(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.due_at)

    @property
    def open(self) -> bool:
        return self.met_at is None and self.breached_at is None

    def overdue(self, now: dt.datetime) -> bool:
        return self.open and not in_time(self.due, now)


class Breach(msgspec.Struct, frozen=True):
    """What a `DeadlineBreached` event records."""

    deadline: str
    due_at: str
    breached_at: dt.datetime

    @property
    def reason(self) -> str:
        return missed(self.deadline, self.due_at)


class Met(msgspec.Struct, frozen=True):
    """What a `DeadlineMet` event records."""

    deadline: str
    met_at: dt.datetime
    late: bool


class Consequences(msgspec.Struct, frozen=True):
    """What a service attaches to a breach under its own rule ids: a fine's rule (the service decides
    the fine itself) and whom the matter is escalated to; either may be absent."""

    fine_rule: str | None = None
    escalate_to: str | None = None


class DueIn(msgspec.Struct, frozen=True):
    """A due time as the rules state it: `amount` working hours after the start (INT-RELAY-4WH …), or
    the close of the `amount`-th working day after the start's day (DSP-REPORT-3WD …)."""

    amount: float
    unit: Literal["working_hours", "working_days"]

    def after(self, calendar: WorkingCalendar, start: dt.datetime, hours: WorkingHours) -> dt.datetime:
        if self.unit == "working_hours":
            return add_working_hours(calendar, start, self.amount, hours)
        return end_of_working_days(calendar, start, int(self.amount), hours)


def in_time(due: dt.datetime, at: dt.datetime) -> bool:
    """The due minute itself is still in time."""
    return at <= due


def missed(rule: str, due_at: str) -> str:
    """The reason every consequence of a breach carries."""
    return f"{rule} missed (due {due_at})"


class Deadlines:
    """An aggregate's deadlines by rule id, in the order they were first set. Immutable: every change
    returns a new value (`set`, `met`, `breached`), applied by the aggregate's events."""

    __slots__ = ("_by_rule",)

    def __init__(self, by_rule: Mapping[str, Deadline] | None = None) -> None:
        self._by_rule: dict[str, Deadline] = dict(by_rule or {})

    # --- reading
    def get(self, rule: str) -> Deadline | None:
        return self._by_rule.get(rule)

    def __getitem__(self, rule: str) -> Deadline:
        return self._by_rule[rule]

    def __contains__(self, rule: object) -> bool:
        return rule in self._by_rule

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_rule)

    def __len__(self) -> int:
        return len(self._by_rule)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Deadlines) and self._by_rule == other._by_rule

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Deadlines({self._by_rule!r})"

    def values(self) -> list[Deadline]:
        return list(self._by_rule.values())

    def settable(self, rule: str, *, keep_first: bool) -> bool:
        """Whether a decision for `rule` is to be recorded: always, unless the rule keeps its first
        deadline and one is set."""
        return not (keep_first and rule in self._by_rule)

    def is_open(self, rule: str) -> bool:
        deadline = self._by_rule.get(rule)
        return deadline is not None and deadline.open

    def overdue(self, now: dt.datetime) -> list[str]:
        """The rules of the open deadlines past due at `now`, in the order they were set: what a timer
        would have breached by then (breach them before acting at `now`)."""
        return [rule for rule, deadline in self._by_rule.items() if deadline.overdue(now)]

    # --- deciding (pure: what to record; nothing changes until the event is applied)
    def breach(self, rule: str, now: dt.datetime) -> Breach | None:
        """The breach to record if `rule`'s deadline is open and `now` is past its due minute; else None
        (never twice: a breached deadline is no longer open)."""
        deadline = self._by_rule.get(rule)
        if deadline is None or not deadline.overdue(now):
            return None
        return Breach(rule, deadline.due_at, now)

    def meet(self, rule: str, at: dt.datetime, met_at: dt.datetime | None = None) -> tuple[Breach | None, Met | None]:
        """Meet `rule`'s deadline, recorded at `at`, met at `met_at` (default `at`): the breach to record
        first if it was met late and not yet breached, and the meeting; (None, None) if there is no such
        deadline or it was met before."""
        deadline = self._by_rule.get(rule)
        if deadline is None or deadline.met_at is not None:
            return None, None
        met_at = met_at or at
        late = deadline.breached_at is not None or not in_time(deadline.due, met_at)
        breach = Breach(rule, deadline.due_at, at) if late and deadline.breached_at is None else None
        return breach, Met(rule, met_at, late)

    # --- applying (what the events do to the state)
    def set(self, rule: str, outputs: Mapping[str, object]) -> Deadlines:
        """A deadline as its decision's outputs set it (`due_at`, optionally `met_by` and
        `on_breach_escalate_to`); setting it again replaces the due time, met/breached stay."""
        previous = self._by_rule.get(rule)
        due_at = outputs["due_at"]
        if not isinstance(due_at, str):
            raise TypeError(f"{rule}: due_at must be ISO 8601 text, not {due_at!r}")
        met_by = outputs.get("met_by", UNSET)
        escalate_to = outputs.get("on_breach_escalate_to", UNSET)
        deadline = Deadline(
            rule,
            due_at,
            None if previous is None else previous.met_at,
            None if previous is None else previous.breached_at,
            met_by if isinstance(met_by, str) else UNSET,
            escalate_to if escalate_to is None or isinstance(escalate_to, str) else UNSET,
        )
        return self._with(deadline)

    def met(self, rule: str, met_at: dt.datetime) -> Deadlines:
        return self._with(msgspec.structs.replace(self._by_rule[rule], met_at=met_at.isoformat()))

    def breached(self, rule: str, breached_at: dt.datetime) -> Deadlines:
        return self._with(msgspec.structs.replace(self._by_rule[rule], breached_at=breached_at.isoformat()))

    def _with(self, deadline: Deadline) -> Deadlines:
        return Deadlines({**self._by_rule, deadline.rule: deadline})
