"""Working time (工作小时/工作日) on the China working calendar.

Holidays and make-up workdays (调休) come from the maintained `chinese-calendar` package; the
day's hours are policy data (`WorkingHours`), by default Mon–Fri 08:30–17:00 Asia/Shanghai.
Pure functions: no clock, time comes in as values.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import chinese_calendar

CHINA = ZoneInfo("Asia/Shanghai")


class CalendarOutOfRange(ValueError):
    """The calendar package does not know the holidays of that year yet."""


@dataclass(frozen=True)
class WorkingHours:
    start: dt.time = dt.time(8, 30)
    end: dt.time = dt.time(17, 0)

    @property
    def seconds_per_day(self) -> float:
        return (
            dt.datetime.combine(dt.date.min, self.end) - dt.datetime.combine(dt.date.min, self.start)
        ).total_seconds()


@functools.lru_cache(maxsize=4096)
def is_workday(day: dt.date) -> bool:
    """From `chinese-calendar` (holidays and 调休 make-up days); cached, the calendar is fixed data."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        raise CalendarOutOfRange(f"the China working calendar does not cover {day.year} yet") from None


def next_workday(day: dt.date) -> dt.date:
    day += dt.timedelta(days=1)
    while not is_workday(day):
        day += dt.timedelta(days=1)
    return day


def _at(day: dt.date, time: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, time, tzinfo=CHINA)


def working_start(moment: dt.datetime, hours: WorkingHours) -> dt.datetime:
    """The first working instant at or after `moment` (in China time)."""
    local = moment.astimezone(CHINA)
    day = local.date()
    if is_workday(day):
        if local < _at(day, hours.start):
            return _at(day, hours.start)
        if local < _at(day, hours.end):
            return local
    return _at(next_workday(day), hours.start)


def add_working_hours(moment: dt.datetime, working_hours: float, hours: WorkingHours) -> dt.datetime:
    """`moment` plus `working_hours` of working time. The result is always inside working time
    (a deadline may land on the closing minute, 17:00, itself)."""
    if working_hours < 0:
        raise ValueError("working hours must not be negative")
    current = working_start(moment, hours)
    remaining = dt.timedelta(hours=working_hours)
    while True:
        left_today = _at(current.date(), hours.end) - current
        if remaining <= left_today:
            return current + remaining
        remaining -= left_today
        current = _at(next_workday(current.date()), hours.start)


def add_working_days(moment: dt.datetime, days: int, hours: WorkingHours) -> dt.datetime:
    """The end of the `days`-th working day after the day of `moment` (DSP-REPORT-3WD style)."""
    if days < 0:
        raise ValueError("working days must not be negative")
    day = moment.astimezone(CHINA).date()
    for _ in range(days):
        day = next_workday(day)
    return _at(day, hours.end)


def working_days_late(due: dt.datetime, now: dt.datetime) -> int:
    """How many whole working days have ended since `due` (0 if `now` is not past it)."""
    if now <= due:
        return 0
    count = 0
    day = due.astimezone(CHINA).date()
    end = now.astimezone(CHINA)
    hours = WorkingHours()
    while True:
        day = next_workday(day)
        if _at(day, hours.end) > end:
            return count
        count += 1
