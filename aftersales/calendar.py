"""`aftersales calendar`: ops publish a year's working calendar when the State Council announces it
(docs/rules.md §9, Calendar), or print the provisional year as a template to start from.

The file is TOML (dates ISO; `a..b` is an inclusive range):

    year = 2027
    notice = "国务院办公厅关于2027年部分节假日安排的通知"
    holidays = ["2027-01-01", "2027-02-05..2027-02-11"]   # days off
    workdays = ["2027-02-14"]                            # make-up working days (调休), Sat/Sun only

Publishing sends `PublishCalendar` to intake with the API token of `AFTERSALES_TOKEN` (role ops; the
token names the person), which records `CalendarPublished`; every
service then decides on it. Publishing the same content again records nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import msgspec

from aftersales.opcommand import send_command
from shared.events.commands import Actor, PublishCalendar
from shared.workcal import InvalidSchedule, YearSchedule, provisional_year, seed_years

MAX_RANGE_DAYS = 60


class CalendarFileError(ValueError):
    pass


def _days(values: Iterable[Any], what: str) -> list[dt.date]:
    days: list[dt.date] = []
    for value in values:
        if isinstance(value, dt.date):
            days.append(value)
            continue
        if not isinstance(value, str):
            raise CalendarFileError(f"{what}: {value!r} is not a date or a range 'YYYY-MM-DD..YYYY-MM-DD'")
        first, _, last = value.partition("..")
        try:
            start = dt.date.fromisoformat(first.strip())
            end = dt.date.fromisoformat(last.strip()) if last else start
        except ValueError:
            raise CalendarFileError(f"{what}: {value!r} is not a date or a range") from None
        if not 0 <= (end - start).days <= MAX_RANGE_DAYS:
            raise CalendarFileError(f"{what}: range {value!r} is backwards or longer than {MAX_RANGE_DAYS} days")
        days.extend(start + dt.timedelta(days=n) for n in range((end - start).days + 1))
    return days


def parse_calendar_file(text: str) -> tuple[YearSchedule, str]:
    """The schedule the file describes (validated) and its notice."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CalendarFileError(f"not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"year", "notice", "holidays", "workdays"})
    if unknown:
        raise CalendarFileError(f"unknown keys: {', '.join(unknown)}")
    year = data.get("year")
    if not isinstance(year, int):
        raise CalendarFileError("`year` (an integer) is required")
    holidays = _days(data.get("holidays", []), "holidays")
    if not holidays:
        raise CalendarFileError("`holidays` is empty: a published year names its days off")
    try:
        schedule = YearSchedule.make(year, holidays, _days(data.get("workdays", []), "workdays"), "published")
    except InvalidSchedule as exc:
        raise CalendarFileError(str(exc)) from None
    return schedule, str(data.get("notice", ""))


def template(year: int) -> str:
    """A file to edit: the provisional year (or the seed, if the package knew it)."""
    schedule = seed_years().get(year) or provisional_year(year)
    holidays = ",\n".join(f'  "{d.isoformat()}"' for d in sorted(schedule.holidays))
    workdays = ", ".join(f'"{d.isoformat()}"' for d in sorted(schedule.workdays))
    return (
        f"# Working calendar {year}: {schedule.source} ({schedule.version}). Edit it to the State Council's\n"
        f"# notice, then: aftersales calendar publish {year}.toml\n"
        f'year = {year}\nnotice = ""\nholidays = [\n{holidays},\n]\nworkdays = [{workdays}]\n'
    )


async def _publish(
    nats_url: str, subject: str, command: dict[str, Any], token: str, timeout_s: float, nats_options: Mapping[str, str]
) -> int:
    reply = await send_command(nats_url, subject, command, token, timeout_s, nats_options)
    if not reply.ok:
        print(f"calendar publish: refused ({reply.status}): {reply.error}", file=sys.stderr)
        return 1
    print("recorded: " + (", ".join(reply.events) if reply.events else "nothing (already published)"))
    return 0


def cmd_calendar(args: argparse.Namespace) -> int:
    if args.calendar_command == "template":
        sys.stdout.write(template(args.year))
        return 0
    try:
        schedule, notice = parse_calendar_file(Path(args.file).read_text(encoding="utf-8"))
    except (OSError, CalendarFileError) as exc:
        print(f"calendar publish: {args.file}: {exc}", file=sys.stderr)
        return 2
    from shared.runtime.settings import Settings

    settings = Settings.from_env()
    token = os.environ.get("AFTERSALES_TOKEN", "").strip()
    if not token:
        print("calendar publish: set AFTERSALES_TOKEN to your API token (role ops)", file=sys.stderr)
        return 2
    command = msgspec.to_builtins(PublishCalendar(
        actor=Actor(id=args.actor or "-", role="ops"), year=schedule.year,
        holidays=sorted(schedule.holidays), workdays=sorted(schedule.workdays), notice=notice,
    ))  # fmt: skip
    if args.actor is None:
        del command["actor"]  # the acting person is the token's
    print(f"publishing {schedule.version}: {len(schedule.holidays)} days off, {len(schedule.workdays)} make-up days")
    try:
        return asyncio.run(
            _publish(
                settings.nats_url,
                settings.names.commands("calendar"),
                command,
                token,
                args.timeout,
                settings.nats_options,
            )
        )
    except (TimeoutError, OSError) as exc:
        print(f"calendar publish: intake did not answer: {exc!r}", file=sys.stderr)
        return 1


def add_parser(sub: Any) -> None:
    cal = sub.add_parser("calendar", help="the working calendar: publish a year, or print a template")
    cal_sub = cal.add_subparsers(dest="calendar_command", required=True)
    publish = cal_sub.add_parser("publish", help="publish a year's calendar from a TOML file (role ops)")
    publish.add_argument("file")
    publish.add_argument("--actor", default=None, help="who publishes (default and must be: the token's person)")
    publish.add_argument("--timeout", type=float, default=10.0)
    publish.set_defaults(func=cmd_calendar)
    tmpl = cal_sub.add_parser("template", help="print a year as TOML (provisional unless known) to edit")
    tmpl.add_argument("year", type=int)
    tmpl.set_defaults(func=cmd_calendar)
