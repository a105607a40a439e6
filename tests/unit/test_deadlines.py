"""The shared deadline engine (shared/domain/deadlines.py): set, meet, breach once, the due minute."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest

from shared.domain.deadlines import Breach, Deadline, Deadlines, DueIn, Met, in_time, missed
from shared.domain.org import DEPARTMENTS, ROLES, department_of
from shared.workcal import CHINA, WorkingHours, default_calendar


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=CHINA)


DUE = "2026-11-23T13:00:00+08:00"


def one(rule: str = "INT-RELAY-4WH", **outputs: object) -> Deadlines:
    return Deadlines().set(rule, {"due_at": DUE, **outputs})


def test_the_due_minute_itself_is_in_time_and_a_microsecond_later_is_not() -> None:
    due = at(2026, 11, 23, 13, 0)
    assert in_time(due, due)
    assert not in_time(due, due + dt.timedelta(microseconds=1))
    assert one().breach("INT-RELAY-4WH", due) is None
    assert one().breach("INT-RELAY-4WH", due + dt.timedelta(minutes=1)) == Breach(
        "INT-RELAY-4WH", DUE, due + dt.timedelta(minutes=1)
    )


def test_a_breach_happens_at_most_once_and_never_after_the_deadline_was_met() -> None:
    late = at(2026, 11, 23, 14, 0)
    deadlines = one()
    breach = deadlines.breach("INT-RELAY-4WH", late)
    assert breach is not None
    assert breach.reason == missed("INT-RELAY-4WH", DUE) == f"INT-RELAY-4WH missed (due {DUE})"
    breached = deadlines.breached("INT-RELAY-4WH", late)
    assert breached["INT-RELAY-4WH"].breached_at == "2026-11-23T14:00:00+08:00"
    assert breached.breach("INT-RELAY-4WH", at(2026, 11, 24, 9, 0)) is None
    met = deadlines.met("INT-RELAY-4WH", at(2026, 11, 23, 12, 0))
    assert met.breach("INT-RELAY-4WH", late) is None
    assert Deadlines().breach("INT-RELAY-4WH", late) is None  # no such deadline


def test_meeting_in_time_late_and_twice() -> None:
    deadlines = one()
    assert deadlines.meet("INT-RELAY-4WH", at(2026, 11, 23, 13, 0)) == (
        None, Met("INT-RELAY-4WH", at(2026, 11, 23, 13, 0), False),
    )  # fmt: skip
    # Met late and not breached yet: breached first at the meeting time, then met late.
    assert deadlines.meet("INT-RELAY-4WH", at(2026, 11, 23, 14, 0)) == (
        Breach("INT-RELAY-4WH", DUE, at(2026, 11, 23, 14, 0)), Met("INT-RELAY-4WH", at(2026, 11, 23, 14, 0), True),
    )  # fmt: skip
    # Already breached (by a timer): met late, no second breach.
    breached = deadlines.breached("INT-RELAY-4WH", at(2026, 11, 23, 13, 1))
    assert breached.meet("INT-RELAY-4WH", at(2026, 11, 23, 14, 0)) == (
        None, Met("INT-RELAY-4WH", at(2026, 11, 23, 14, 0), True),
    )  # fmt: skip
    # Met earlier than recorded (a contact before the deadline was set): late is judged on met_at.
    assert deadlines.meet("INT-RELAY-4WH", at(2026, 11, 23, 15, 0), met_at=at(2026, 11, 23, 9, 0)) == (
        None, Met("INT-RELAY-4WH", at(2026, 11, 23, 9, 0), False),
    )  # fmt: skip
    met = deadlines.met("INT-RELAY-4WH", at(2026, 11, 23, 12, 0))
    assert met.meet("INT-RELAY-4WH", at(2026, 11, 23, 12, 30)) == (None, None)
    assert Deadlines().meet("INT-RELAY-4WH", at(2026, 11, 23, 12, 30)) == (None, None)


def test_setting_again_replaces_the_due_time_and_keeps_met_and_breached() -> None:
    breached = one().breached("INT-RELAY-4WH", at(2026, 11, 23, 14, 0))
    again = breached.set("INT-RELAY-4WH", {"due_at": "2026-11-24T13:00:00+08:00"})
    assert again["INT-RELAY-4WH"] == Deadline(
        "INT-RELAY-4WH", "2026-11-24T13:00:00+08:00", None, "2026-11-23T14:00:00+08:00"
    )
    assert breached["INT-RELAY-4WH"].due_at == DUE  # values never change in place
    # A rule that keeps its first deadline (dispatch's DSP-ARRIVE) is not set again.
    assert Deadlines().settable("DSP-ARRIVE", keep_first=True)
    assert not breached.settable("INT-RELAY-4WH", keep_first=True)
    assert breached.settable("INT-RELAY-4WH", keep_first=False)
    with pytest.raises(TypeError):
        Deadlines().set("X", {"due_at": 3})


def test_what_the_decision_said_about_meeting_and_escalating_is_kept_and_absent_stays_absent() -> None:
    levels = one("INT-LEVELS", met_by="customer_contact", on_breach_escalate_to=None)["INT-LEVELS"]
    assert (levels.met_by, levels.on_breach_escalate_to) == ("customer_contact", None)
    plain = one()["INT-RELAY-4WH"]
    assert (plain.met_by, plain.on_breach_escalate_to) == (msgspec.UNSET, msgspec.UNSET)


def test_overdue_lists_open_deadlines_past_due_in_the_order_they_were_set() -> None:
    deadlines = (
        Deadlines()
        .set("INT-REPLY-8WH", {"due_at": "2026-11-24T08:30:00+08:00"})
        .set("INT-RELAY-4WH", {"due_at": DUE})
        .set("INT-LEVELS", {"due_at": "2026-11-23T10:00:00+08:00"})
        .met("INT-LEVELS", at(2026, 11, 23, 9, 0))
    )
    assert deadlines.overdue(at(2026, 11, 23, 13, 0)) == []
    assert deadlines.overdue(at(2026, 11, 24, 9, 0)) == ["INT-REPLY-8WH", "INT-RELAY-4WH"]
    assert list(deadlines) == ["INT-REPLY-8WH", "INT-RELAY-4WH", "INT-LEVELS"]


def test_due_times_across_the_year_end_into_a_provisional_2027() -> None:
    calendar = default_calendar()
    hours = WorkingHours()
    assert calendar.schedule(2027).provisional
    assert not calendar.schedule(2026).provisional
    # Thursday 31 Dec 2026 15:00 + 4 working hours: 2 h that day, 元旦 (1 Jan, provisional), the
    # weekend, then 2 h on Monday 4 Jan 2027.
    assert DueIn(4, "working_hours").after(calendar, at(2026, 12, 31, 15, 0), hours) == at(2027, 1, 4, 10, 30)
    # The close of the 3rd working day after 30 Dec 2026: 31 Dec, 4 Jan, 5 Jan.
    assert DueIn(3, "working_days").after(calendar, at(2026, 12, 30, 10, 0), hours) == at(2027, 1, 5, 17, 0)
    # 2027's Spring Festival (provisional: 除夕 and 初一–初三 from the lunar tables) is not working time.
    assert DueIn(1, "working_hours").after(calendar, at(2027, 2, 5, 16, 30), hours) > at(2027, 2, 9, 0, 0)
    deadlines = Deadlines().set("INT-RELAY-4WH", {"due_at": "2027-01-04T10:30:00+08:00"})
    assert deadlines.breach("INT-RELAY-4WH", at(2027, 1, 1, 12, 0)) is None  # a holiday: still in time
    assert deadlines.overdue(at(2027, 1, 4, 10, 31)) == ["INT-RELAY-4WH"]


def test_one_list_of_departments_for_every_role() -> None:
    assert department_of("agent") == "customer_service"
    assert department_of("branch_manager") == "sales_branch"
    assert department_of("gm") == "gm"  # no department of its own: named as itself, as before
    assert set(ROLES) >= set(DEPARTMENTS) - {"auditor"}
    from services.reporting.console.labels import LABELS

    assert set(DEPARTMENTS.values()) <= set(LABELS["department"])  # the console can name every one
