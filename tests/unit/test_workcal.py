"""The working calendar (docs/rules.md §9 Calendar): working time on versioned year schedules, seed,
published and provisional years, and how decisions record and replay the calendar they used
(INT-RELAY-4WH, INT-REPLY-8WH, DSP-REPORT-3WD, DSP-AUDIT-5WD, FIN-AUDIT-LATE)."""

from __future__ import annotations

import datetime as dt

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.dispatch import policy as dispatch_policy
from services.intake import policy as intake_policy
from shared.workcal import (
    CHINA,
    CalendarOutOfRange,
    CalendarRegistry,
    CalendarVersionUnknown,
    InvalidSchedule,
    WorkingCalendar,
    WorkingHours,
    YearSchedule,
    add_working_hours,
    default_calendar,
    end_of_working_days,
    provisional_year,
    seed_years,
    with_calendar,
    working_days_late,
)

HOURS = WorkingHours()
CAL = default_calendar()
# Through 2028: the seed ends with 2026, later years are provisional until ops publish them.
moments = st.datetimes(min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2028, 12, 31)).map(
    lambda d: d.replace(tzinfo=CHINA)
)
durations = st.floats(min_value=0, max_value=80, allow_nan=False)


def cn(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=CHINA)


def inside_working_time(moment: dt.datetime, calendar: WorkingCalendar = CAL) -> bool:
    local = moment.astimezone(CHINA)
    return calendar.is_workday(local.date()) and HOURS.start <= local.time() <= HOURS.end


@settings(max_examples=300, deadline=None)
@given(moments, durations)
def test_adding_working_hours_lands_inside_working_time(start: dt.datetime, hours: float) -> None:
    assert inside_working_time(add_working_hours(CAL, start, hours, HOURS))


@settings(max_examples=300, deadline=None)
@given(moments, durations, durations)
def test_adding_working_hours_is_monotonic(start: dt.datetime, a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert add_working_hours(CAL, start, low, HOURS) <= add_working_hours(CAL, start, high, HOURS)


@settings(max_examples=200, deadline=None)
@given(moments, moments, durations)
def test_a_later_start_never_gives_an_earlier_deadline(x: dt.datetime, y: dt.datetime, hours: float) -> None:
    early, late = sorted((x, y))
    assert add_working_hours(CAL, early, hours, HOURS) <= add_working_hours(CAL, late, hours, HOURS)


@settings(max_examples=200, deadline=None)
@given(moments, st.floats(min_value=0, max_value=40, allow_nan=False), st.floats(min_value=0, max_value=40))
def test_working_hours_compose(start: dt.datetime, a: float, b: float) -> None:
    once = add_working_hours(CAL, start, a + b, HOURS)
    twice = add_working_hours(CAL, add_working_hours(CAL, start, a, HOURS), b, HOURS)
    assert abs((once - twice).total_seconds()) < 1e-3 or (
        # landing exactly on 17:00 and continuing next morning is the same working instant
        inside_working_time(once) and inside_working_time(twice)
        and once.astimezone(CHINA).time() in (HOURS.start, HOURS.end)
    )  # fmt: skip


# ------------------------------------------------------------------------------------- the seed


def test_the_seed_is_what_chinese_calendar_says_for_every_year_it_covers() -> None:
    seed = seed_years()
    assert min(seed) == 2004
    assert max(seed) >= 2026
    day = dt.date(min(seed), 1, 1)
    while day.year <= max(seed):
        assert seed[day.year].is_workday(day) == chinese_calendar.is_workday(day), day
        day += dt.timedelta(days=1)


def test_make_up_saturday_is_a_workday_and_holidays_are_not() -> None:
    assert CAL.is_workday(dt.date(2026, 10, 10))  # Saturday make-up day after National Day
    assert not CAL.is_workday(dt.date(2026, 10, 1))
    assert not CAL.is_workday(dt.date(2026, 11, 28))  # an ordinary Saturday


def test_working_days_and_days_late() -> None:
    returned = cn(2026, 9, 29, 18, 0)
    assert end_of_working_days(CAL, returned, 3, HOURS) == cn(2026, 10, 9, 17, 0)
    due = cn(2026, 11, 27, 17, 0)  # a Friday's close
    assert working_days_late(CAL, due, cn(2026, 11, 30, 8, 29), HOURS) == 0
    # FIN-AUDIT-LATE counts the working days that had begun: Monday 09:00 is one working day late.
    assert working_days_late(CAL, due, cn(2026, 11, 30, 9, 0), HOURS) == 1
    assert working_days_late(CAL, due, cn(2026, 12, 2, 17, 0), HOURS) == 3


# ------------------------------------------------------------------------- provisional years


@pytest.mark.parametrize(
    ("year", "spring_festival", "qingming", "dragon_boat", "mid_autumn", "days_off"),
    [
        (2027, dt.date(2027, 2, 6), dt.date(2027, 4, 5), dt.date(2027, 6, 9), dt.date(2027, 9, 15), 13),
        # 2028: Mid-Autumn falls on 3 October, inside National Day; nothing is added for it.
        (2028, dt.date(2028, 1, 26), dt.date(2028, 4, 4), dt.date(2028, 5, 28), dt.date(2028, 10, 3), 12),
    ],
)
def test_a_provisional_year_has_the_statutory_holidays_and_no_make_up_days(
    year: int, spring_festival: dt.date, qingming: dt.date, dragon_boat: dt.date, mid_autumn: dt.date, days_off: int
) -> None:
    schedule = provisional_year(year)
    assert schedule.provisional
    assert schedule.workdays == frozenset()
    new_years_eve = spring_festival - dt.timedelta(days=1)
    expected = {
        dt.date(year, 1, 1),
        new_years_eve, spring_festival, spring_festival + dt.timedelta(days=1), spring_festival + dt.timedelta(days=2),
        qingming, dt.date(year, 5, 1), dt.date(year, 5, 2), dragon_boat, mid_autumn,
        dt.date(year, 10, 1), dt.date(year, 10, 2), dt.date(year, 10, 3),
    }  # fmt: skip
    assert schedule.holidays == expected
    assert len(schedule.holidays) == days_off  # 1 + 4 + 1 + 2 + 1 + 1 + 3 days where none coincide


def test_the_provisional_rule_matches_a_published_year_on_its_holidays() -> None:
    """2026 as published keeps every statutory day of the provisional rule (plus bridging days)."""
    assert provisional_year(2026).holidays <= seed_years()[2026].holidays


def test_new_years_eve_2026_to_2027_never_raises_and_says_provisional() -> None:
    view = CAL.tracking()
    due = add_working_hours(view, cn(2026, 12, 31, 16, 0), 4, HOURS)
    assert due == cn(2027, 1, 4, 11, 30)  # 1 Jan 2027 is New Year's Day, then the weekend
    assert view.used is not None
    assert view.used[2026].startswith("2026-seed-")
    assert view.used[2027].startswith("2027-provisional-")


def test_years_outside_every_calendar_are_a_clear_permanent_error() -> None:
    with pytest.raises(CalendarOutOfRange, match="9999"):
        CAL.is_workday(dt.date(9999, 1, 4))
    with pytest.raises(CalendarOutOfRange, match="1"):
        CAL.is_workday(dt.date(1, 1, 1))


# -------------------------------------------------------------------------------- publication


def published_2027(*, extra_off: tuple[dt.date, ...] = ()) -> YearSchedule:
    holidays = set(provisional_year(2027).holidays) | {dt.date(2027, 2, 8), dt.date(2027, 2, 9), *extra_off}
    return YearSchedule.make(2027, holidays, {dt.date(2027, 2, 20)}, "published")


def test_a_published_year_replaces_the_provisional_one() -> None:
    registry = CalendarRegistry()
    assert registry.provisional_ahead(dt.date(2026, 11, 23)) == [2027]
    assert registry.publish(published_2027())
    assert not registry.publish(published_2027())  # the same version again changes nothing
    assert registry.provisional_ahead(dt.date(2026, 11, 23)) == []
    assert registry.current().is_workday(dt.date(2027, 2, 20))  # a make-up Saturday
    assert not registry.current().is_workday(dt.date(2027, 2, 8))


def test_provisional_warning_starts_60_days_before_the_year() -> None:
    registry = CalendarRegistry()
    assert registry.provisional_ahead(dt.date(2026, 11, 1)) == []
    assert registry.provisional_ahead(dt.date(2026, 11, 2)) == [2027]


@pytest.mark.parametrize(
    ("holidays", "workdays", "reason"),
    [
        ({dt.date(2028, 1, 1)}, set(), "outside 2027"),
        ({dt.date(2027, 2, 20)}, {dt.date(2027, 2, 20)}, "both"),
        (set(), {dt.date(2027, 2, 22)}, "weekend"),  # a Monday cannot be a make-up day
    ],
)
def test_a_contradictory_schedule_is_refused(holidays: set[dt.date], workdays: set[dt.date], reason: str) -> None:
    with pytest.raises(InvalidSchedule, match=reason):
        YearSchedule.make(2027, holidays, workdays, "published")


# ------------------------------------------------------------------- decisions record the calendar


def test_a_working_time_decision_records_its_calendar_and_replays_on_it_after_publication() -> None:
    received = "2026-12-31T16:00:00+08:00"
    provisional = intake_policy.decide("INT-RELAY-4WH", {"received_at": received}, intake_policy.current_policy())
    assert provisional.outputs["due_at"] == "2027-01-04T11:30:00+08:00"
    assert provisional.outputs["calendar_provisional"] == [2027]
    assert set(provisional.inputs["calendar"]) == {"2026", "2027"}

    registry = CalendarRegistry()
    registry.publish(published_2027(extra_off=(dt.date(2027, 1, 4),)))  # suppose 4 Jan became a day off
    policy = intake_policy.current_policy()
    published = intake_policy.BOOK.decide(
        "INT-RELAY-4WH", {"received_at": received}, with_calendar(policy, registry.current())
    )
    assert published.outputs["due_at"] == "2027-01-05T11:30:00+08:00"
    assert "calendar_provisional" not in published.outputs
    # Each decision re-runs on the calendar it recorded, whatever is published now.
    for decision in (provisional, published):
        again = intake_policy.evaluate(decision.rule, decision.policy_version, decision.inputs, registry)
        assert again == decision.outputs


def test_a_recorded_version_that_is_not_known_cannot_be_replayed_silently() -> None:
    with pytest.raises(CalendarVersionUnknown):
        CalendarRegistry().pinned({"2027": "2027-published-000000000000"})


def test_decisions_recorded_before_calendar_versions_replay_on_the_seed() -> None:
    inputs = {"returned_at": "2026-09-29T18:00:00+08:00"}  # no "calendar" key: recorded by policy 2026.1 code
    outputs = dispatch_policy.evaluate("DSP-REPORT-3WD", dispatch_policy.CURRENT_VERSION, inputs)
    assert outputs == {"due_at": "2026-10-09T17:00:00+08:00", "working_days": 3}


@pytest.mark.parametrize(
    ("returned_at", "due_at"),
    [
        # Returned 29 Dec: 30, 31 Dec, (1 Jan holiday, weekend) 4 Jan → the report is due 4 Jan 17:00.
        ("2026-12-29T15:00:00+08:00", "2027-01-04T17:00:00+08:00"),
        ("2027-12-30T10:00:00+08:00", "2028-01-04T17:00:00+08:00"),  # 31 Dec, (1 Jan is a Saturday) 3, 4 Jan
    ],
)
def test_an_engineers_return_at_the_year_end_gets_its_report_deadline(returned_at: str, due_at: str) -> None:
    """DSP-REPORT-3WD was refused with 409 from 2026-12-29 while 2027 was unknown; now it is decided."""
    decision = dispatch_policy.decide("DSP-REPORT-3WD", {"returned_at": returned_at}, dispatch_policy.current_policy())
    assert decision.outputs["due_at"] == due_at
    assert decision.outputs["calendar_provisional"]


def test_fin_audit_late_counts_working_days_across_the_new_year() -> None:
    inputs = {"due_at": "2026-12-31T17:00:00+08:00", "day": 1, "auditor": "tq-003"}
    decision = dispatch_policy.decide("FIN-AUDIT-LATE", inputs, dispatch_policy.current_policy())
    assert decision.outputs["late_since"] == "2027-01-04T08:30:00+08:00"
    assert decision.outputs["next_day_at"] == "2027-01-05T08:30:00+08:00"
    assert working_days_late(CAL, cn(2026, 12, 31, 17, 0), cn(2027, 1, 5, 9, 0), HOURS) == 2
