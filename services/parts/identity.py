"""Parts' identities and its day arithmetic: one aggregate per replaced part, per region's market-price
day and per scrap ledger (spec and source); calendar days in China time; the refusal every command
may end in."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

PART_NAMESPACE = uuid.UUID("3c1d0a5e-8f27-4e0b-9b61-5a2f4c7e9d13")
MARKET_NAMESPACE = uuid.UUID("a4e2b9c1-6d3f-4b8a-8e15-0c7d2f9a1b46")
LEDGER_NAMESPACE = uuid.UUID("c8f15d2a-1e6b-4a93-b7d4-2e9a6c0f3b58")
CHINA = ZoneInfo("Asia/Shanghai")


class CommandRejected(ValueError):
    """The command does not fit the part's state or the rules; nothing was recorded."""


def part_id_for(part_id: str) -> uuid.UUID:
    """One replaced part is one aggregate: the dispatch part id *is* its identity."""
    return uuid.uuid5(PART_NAMESPACE, part_id)


def market_price_id_for(region: str, day: dt.date) -> uuid.UUID:
    return uuid.uuid5(MARKET_NAMESPACE, f"{region}|{day.isoformat()}")


def ledger_id_for(material_code: str, source: str) -> uuid.UUID:
    return uuid.uuid5(LEDGER_NAMESPACE, f"{material_code.strip().upper()}|{source}")


def china_date(moment: dt.datetime) -> dt.date:
    return moment.astimezone(CHINA).date()


def china_day(moment: dt.datetime) -> str:
    """The China-time calendar day of `moment`, as ISO text (how parts' events record days)."""
    return china_date(moment).isoformat()


def start_of_day(day: dt.date) -> dt.datetime:
    """00:00 Asia/Shanghai of `day`: when a calendar day counts as begun."""
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=CHINA)


def end_of_day(day: str) -> dt.datetime:
    """The last moment of the calendar day `day` (China time): a deadline due on a day is in time
    through all of it, and missed from 00:00 of the next (the shared engine's due moment)."""
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time.max, tzinfo=CHINA)


def is_blank(value: object) -> bool:
    """A record field that says nothing: absent, or an empty or whitespace-only text."""
    return value is None or (isinstance(value, str) and not value.strip())
