"""The China working calendar (工作日, 工作小时) as versioned policy data: one module for every service.

Working time is Mon–Fri 08:30–17:00 Asia/Shanghai, minus statutory holidays, plus make-up workdays
(调休) — docs/rules.md §9 "Calendar". Which days those are is data, one `YearSchedule` per year:

- `seed`: the years the maintained `chinese-calendar` package knows, frozen into `seed.json` (so a
  package upgrade can never change a recorded decision; a test checks the file against the package);
- `published`: a year ops published (`aftersales calendar publish 2027.toml`), recorded as an event;
- `provisional`: a year nobody published yet. Weekends plus the statutory holidays of
  全国年节及纪念日放假办法, lunar dates computed by `lunar-python`, no make-up days. Never raises.

Every schedule has a content-addressed `version` (`2027-published-3f9a…`). A rule that reads the
calendar records the version of every year it looked at; `aftersales replay` pins those versions, so a
decision made on a provisional 2027 still reproduces after the real 2027 is published.

Pure functions and immutable values: no clock, no I/O beyond reading the packaged seed file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import TypeVar
from zoneinfo import ZoneInfo

from shared.runtime.failures import PermanentFailure

CHINA = ZoneInfo("Asia/Shanghai")
SOURCES = ("seed", "published", "provisional")
FIRST_YEAR, LAST_YEAR = 1901, 2099
"""The years a provisional calendar can be computed for (the lunar tables' range); inputs are refused
far earlier, at the door, by their date window."""
PROVISIONAL_WARNING_DAYS = 60
"""From this many days before a year starts, a provisional calendar for it is warned about."""


class CalendarOutOfRange(PermanentFailure, ValueError):
    """A date outside every calendar this system can know (before 1901 or after 2099)."""


class CalendarVersionUnknown(LookupError):
    """A recorded calendar version that this registry does not hold (replay cannot re-run it)."""


class InvalidSchedule(ValueError):
    """A published year's schedule that contradicts itself or the year."""


@dataclass(frozen=True)
class WorkingHours:
    start: dt.time = dt.time(8, 30)
    end: dt.time = dt.time(17, 0)


@dataclass(frozen=True)
class YearSchedule:
    """One year's days off (`holidays`) and make-up working days (`workdays`, always Sat/Sun)."""

    year: int
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]
    source: str
    digest: str

    @classmethod
    def make(cls, year: int, holidays: Iterable[dt.date], workdays: Iterable[dt.date], source: str) -> YearSchedule:
        off, on = frozenset(holidays), frozenset(workdays)
        if source not in SOURCES:
            raise InvalidSchedule(f"unknown calendar source {source!r}")
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise InvalidSchedule(f"year {year} is outside {FIRST_YEAR}–{LAST_YEAR}")
        if stray := sorted(d.isoformat() for d in off | on if d.year != year):
            raise InvalidSchedule(f"dates outside {year}: {', '.join(stray)}")
        if both := sorted(d.isoformat() for d in off & on):
            raise InvalidSchedule(f"both a holiday and a make-up workday: {', '.join(both)}")
        if weekday := sorted(d.isoformat() for d in on if d.weekday() < 5):
            raise InvalidSchedule(f"make-up workdays (调休) fall on a weekend, not on {', '.join(weekday)}")
        return cls(year, off, on, source, _digest(year, off, on))

    @property
    def version(self) -> str:
        return f"{self.year}-{self.source}-{self.digest[:12]}"

    @property
    def provisional(self) -> bool:
        return self.source == "provisional"

    def is_workday(self, day: dt.date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def as_data(self) -> dict[str, object]:
        return {"year": self.year, "holidays": sorted(d.isoformat() for d in self.holidays),
                "workdays": sorted(d.isoformat() for d in self.workdays)}  # fmt: skip


def is_provisional_version(version: str) -> bool:
    """Whether a recorded version (`2027-provisional-…`) names a provisional year."""
    return version.split("-")[1:2] == ["provisional"]


def _digest(year: int, holidays: frozenset[dt.date], workdays: frozenset[dt.date]) -> str:
    canonical = json.dumps(
        {"year": year, "holidays": sorted(d.isoformat() for d in holidays),
         "workdays": sorted(d.isoformat() for d in workdays)}, separators=(",", ":"))  # fmt: skip
    return hashlib.sha256(canonical.encode()).hexdigest()


# ------------------------------------------------------------------------------------ the schedules


@functools.cache
def seed_years() -> Mapping[int, YearSchedule]:
    """The years `chinese-calendar` covered when `seed.json` was written (2004–2026)."""
    data = json.loads(resources.files(__package__).joinpath("seed.json").read_text(encoding="utf-8"))
    return {int(year): _schedule(int(year), days, "seed") for year, days in data["years"].items()}


def _schedule(year: int, days: Mapping[str, Iterable[str]], source: str) -> YearSchedule:
    holidays = map(dt.date.fromisoformat, days.get("holidays", ()))
    return YearSchedule.make(year, holidays, map(dt.date.fromisoformat, days.get("workdays", ())), source)


@functools.lru_cache(maxsize=64)
def provisional_year(year: int) -> YearSchedule:
    """全国年节及纪念日放假办法 (as amended 2024-11, in force 2025): New Year's Day 1 day; Spring
    Festival 4 days from New Year's Eve (除夕 to 正月初三); Qingming 1; Labour Day 2 (1–2 May); Dragon
    Boat 1; Mid-Autumn 1; National Day 3 (1–3 October). No make-up days are guessed."""
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise CalendarOutOfRange(f"no working calendar can be known for {year} ({FIRST_YEAR}–{LAST_YEAR} only)")
    from lunar_python import Lunar  # a maintained lunar calendar (农历, 节气); only provisional years need it

    def solar(month: int, day: int) -> dt.date:
        s = Lunar.fromYmd(year, month, day).getSolar()
        return dt.date(s.getYear(), s.getMonth(), s.getDay())

    spring = solar(1, 1)
    qingming_solar = Lunar.fromYmd(year, 3, 1).getJieQiTable()["清明"]
    qingming = dt.date(qingming_solar.getYear(), qingming_solar.getMonth(), qingming_solar.getDay())
    days = {
        dt.date(year, 1, 1),
        *(spring + dt.timedelta(days=n) for n in range(-1, 3)),
        qingming,
        dt.date(year, 5, 1),
        dt.date(year, 5, 2),
        solar(5, 5),
        solar(8, 15),
        dt.date(year, 10, 1),
        dt.date(year, 10, 2),
        dt.date(year, 10, 3),
    }
    return YearSchedule.make(year, (d for d in days if d.year == year), (), "provisional")


# ------------------------------------------------------------------------------------- the calendar


class WorkingCalendar:
    """Which schedule each year uses. A year without one is provisional, unless the calendar is
    pinned (replay), where every year must be one of the recorded versions.

    `tracking()` gives a view that records the version of each year it is asked about (`used`);
    rules run on such a view so that their decision can name the calendar it used."""

    def __init__(self, years: Mapping[int, YearSchedule], *, pinned: bool = False) -> None:
        self._years = dict(years)
        self._pinned = pinned
        self.used: dict[int, str] | None = None

    def tracking(self) -> WorkingCalendar:
        view = WorkingCalendar.__new__(WorkingCalendar)
        view._years, view._pinned, view.used = self._years, self._pinned, {}
        return view

    def schedule(self, year: int) -> YearSchedule:
        found = self._years.get(year)
        if found is None:
            if self._pinned:
                raise CalendarVersionUnknown(f"the recorded calendar names no version for {year}")
            found = provisional_year(year)
        if self.used is not None:
            self.used[year] = found.version
        return found

    def is_workday(self, day: dt.date) -> bool:
        return self.schedule(day.year).is_workday(day)


class CalendarRegistry:
    """Every schedule this process knows: the seed, and each year published since (latest wins).
    Thread-safe; `current()` is an immutable snapshot, `pinned()` rebuilds a recorded calendar."""

    def __init__(self, seed: Mapping[int, YearSchedule] | None = None) -> None:
        self._lock = threading.Lock()
        self._latest: dict[int, YearSchedule] = dict(seed_years() if seed is None else seed)
        self._by_version: dict[str, YearSchedule] = {s.version: s for s in self._latest.values()}
        self._current = WorkingCalendar(self._latest)

    def publish(self, schedule: YearSchedule) -> bool:
        """Add a published year; False if this exact version was already known."""
        with self._lock:
            if schedule.version in self._by_version and self._latest.get(schedule.year) == schedule:
                return False
            self._by_version[schedule.version] = schedule
            self._latest[schedule.year] = schedule
            self._current = WorkingCalendar(self._latest)
            return True

    def current(self) -> WorkingCalendar:
        return self._current

    def known(self, year: int) -> YearSchedule | None:
        return self._latest.get(year)

    def pinned(self, versions: Mapping[str, str]) -> WorkingCalendar:
        """The calendar a decision recorded (`{"2027": "2027-provisional-…"}`), for replay."""
        years: dict[int, YearSchedule] = {}
        for year_text, version in versions.items():
            year = int(year_text)
            schedule = self._by_version.get(version)
            if schedule is None and is_provisional_version(version):
                schedule = provisional_year(year)
            if schedule is None or schedule.version != version:
                raise CalendarVersionUnknown(f"calendar version {version} is not known here")
            years[year] = schedule
        return WorkingCalendar(years, pinned=True)

    def provisional_ahead(self, today: dt.date) -> list[int]:
        """Years within `PROVISIONAL_WARNING_DAYS` (or already running) that nobody published."""
        horizon = today + dt.timedelta(days=PROVISIONAL_WARNING_DAYS)
        return [year for year in range(today.year, horizon.year + 1) if year not in self._latest]


P = TypeVar("P")


def with_calendar(policy: P, calendar: WorkingCalendar) -> P:
    """The same policy version deciding on another calendar (a policy's `calendar` is not compared)."""
    replaced: P = dataclasses.replace(policy, calendar=calendar)  # type: ignore[type-var]
    return replaced


@functools.cache
def default_calendar() -> WorkingCalendar:
    """The seed years, provisional beyond them: what a process uses before any publication reaches it."""
    return WorkingCalendar(seed_years())


# ----------------------------------------------------------------------------------- working time


def _at(day: dt.date, time: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, time, tzinfo=CHINA)


MAX_DAYS_OFF = 400
"""No schedule has this many days off in a row; a longer search means the data is broken."""


def next_workday(calendar: WorkingCalendar, day: dt.date) -> dt.date:
    for _ in range(MAX_DAYS_OFF):
        day += dt.timedelta(days=1)
        if calendar.is_workday(day):
            return day
    raise CalendarOutOfRange(f"no working day within {MAX_DAYS_OFF} days after {day.isoformat()}")


def working_start(calendar: WorkingCalendar, moment: dt.datetime, hours: WorkingHours) -> dt.datetime:
    """The first working instant at or after `moment` (in China time)."""
    local = moment.astimezone(CHINA)
    day = local.date()
    if calendar.is_workday(day):
        if local < _at(day, hours.start):
            return _at(day, hours.start)
        if local < _at(day, hours.end):
            return local
    return _at(next_workday(calendar, day), hours.start)


def add_working_hours(
    calendar: WorkingCalendar, moment: dt.datetime, working_hours: float, hours: WorkingHours
) -> dt.datetime:
    """`moment` plus `working_hours` of working time (INT-RELAY-4WH, INT-REPLY-8WH). The result is
    always inside working time (a deadline may land on the closing minute, 17:00, itself)."""
    if working_hours < 0:
        raise ValueError("working hours must not be negative")
    current = working_start(calendar, moment, hours)
    remaining = dt.timedelta(hours=working_hours)
    while True:
        left_today = _at(current.date(), hours.end) - current
        if remaining <= left_today:
            return current + remaining
        remaining -= left_today
        current = _at(next_workday(calendar, current.date()), hours.start)


def end_of_working_days(calendar: WorkingCalendar, moment: dt.datetime, days: int, hours: WorkingHours) -> dt.datetime:
    """The close (17:00) of the `days`-th working day after the day of `moment` (DSP-REPORT-3WD,
    DSP-AUDIT-5WD)."""
    if days < 0:
        raise ValueError("working days must not be negative")
    day = moment.astimezone(CHINA).date()
    for _ in range(days):
        day = next_workday(calendar, day)
    return _at(day, hours.end)


def late_day_start(calendar: WorkingCalendar, due: dt.datetime, day_number: int, hours: WorkingHours) -> dt.datetime:
    """When the `day_number`-th working day after `due` begins (08:30): from then on the matter is
    that many working days late (FIN-AUDIT-LATE)."""
    day = due.astimezone(CHINA).date()
    for _ in range(day_number):
        day = next_workday(calendar, day)
    return _at(day, hours.start)


def working_days_late(calendar: WorkingCalendar, due: dt.datetime, done: dt.datetime, hours: WorkingHours) -> int:
    """How many working days after `due` had begun when `done` happened (0 if on time): due Friday
    17:00 and done Monday 09:00 is one working day late (FIN-AUDIT-LATE, 50 per working day late)."""
    count = 0
    while late_day_start(calendar, due, count + 1, hours) <= done:
        count += 1
    return count
