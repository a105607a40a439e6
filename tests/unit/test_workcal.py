"""Working time on the China working calendar (INT-RELAY-4WH, INT-REPLY-8WH, DSP-* working days)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.intake.workcal import (
    CHINA,
    CalendarOutOfRange,
    WorkingHours,
    add_working_days,
    add_working_hours,
    is_workday,
    working_days_late,
)

HOURS = WorkingHours()
moments = st.datetimes(min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2026, 12, 1)).map(
    lambda d: d.replace(tzinfo=CHINA)
)
durations = st.floats(min_value=0, max_value=80, allow_nan=False)


def inside_working_time(moment: dt.datetime) -> bool:
    local = moment.astimezone(CHINA)
    return is_workday(local.date()) and HOURS.start <= local.time() <= HOURS.end


@settings(max_examples=300, deadline=None)
@given(moments, durations)
def test_adding_working_hours_lands_inside_working_time(start: dt.datetime, hours: float) -> None:
    assert inside_working_time(add_working_hours(start, hours, HOURS))


@settings(max_examples=300, deadline=None)
@given(moments, durations, durations)
def test_adding_working_hours_is_monotonic(start: dt.datetime, a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert add_working_hours(start, low, HOURS) <= add_working_hours(start, high, HOURS)


@settings(max_examples=200, deadline=None)
@given(moments, moments, durations)
def test_a_later_start_never_gives_an_earlier_deadline(x: dt.datetime, y: dt.datetime, hours: float) -> None:
    early, late = sorted((x, y))
    assert add_working_hours(early, hours, HOURS) <= add_working_hours(late, hours, HOURS)


@settings(max_examples=200, deadline=None)
@given(moments, st.floats(min_value=0, max_value=40, allow_nan=False), st.floats(min_value=0, max_value=40))
def test_working_hours_compose(start: dt.datetime, a: float, b: float) -> None:
    once = add_working_hours(start, a + b, HOURS)
    twice = add_working_hours(add_working_hours(start, a, HOURS), b, HOURS)
    assert abs((once - twice).total_seconds()) < 1e-3 or (
        # landing exactly on 17:00 and continuing next morning is the same working instant
        inside_working_time(once) and inside_working_time(twice)
        and once.astimezone(CHINA).time() in (HOURS.start, HOURS.end)
    )  # fmt: skip


def test_make_up_saturday_is_a_workday_and_holidays_are_not() -> None:
    assert is_workday(dt.date(2026, 10, 10))  # Saturday make-up day after National Day
    assert not is_workday(dt.date(2026, 10, 1))
    assert not is_workday(dt.date(2026, 11, 28))  # an ordinary Saturday


def test_working_days() -> None:
    returned = dt.datetime(2026, 9, 29, 18, 0, tzinfo=CHINA)
    assert add_working_days(returned, 3, HOURS) == dt.datetime(2026, 10, 9, 17, 0, tzinfo=CHINA)
    due = dt.datetime(2026, 11, 27, 17, 0, tzinfo=CHINA)  # a Friday's close
    assert working_days_late(due, dt.datetime(2026, 11, 30, 16, 59, tzinfo=CHINA)) == 0
    assert working_days_late(due, dt.datetime(2026, 11, 30, 17, 0, tzinfo=CHINA)) == 1
    assert working_days_late(due, dt.datetime(2026, 12, 2, 17, 0, tzinfo=CHINA)) == 3


def test_a_year_the_calendar_does_not_know_is_a_clear_error() -> None:
    with pytest.raises(CalendarOutOfRange, match="2099"):
        is_workday(dt.date(2099, 1, 5))
