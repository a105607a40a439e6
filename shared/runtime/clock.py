"""Time (docs/contract.md §2): the wall clock by default; with AFTERSALES_CLOCK=external, only ticks.

A tick is `{"now": "<ISO time with offset>"}` on `aftersales.clock.tick`. Each service reads ticks
through its own durable consumer, so a tick published while it was down still arrives. Time never
goes backwards: an older tick than the last one seen is ignored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

import msgspec


class Tick(msgspec.Struct, frozen=True):
    now: dt.datetime

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("`now` must carry a UTC offset")


_tick_decoder = msgspec.json.Decoder(Tick)


def decode_tick(raw: bytes) -> Tick:
    return _tick_decoder.decode(raw)


def encode_tick(now: dt.datetime) -> bytes:
    return msgspec.json.encode(Tick(now))


CHINA = ZoneInfo("Asia/Shanghai")


def wall_now() -> dt.datetime:
    """The wall clock, in China time so that recorded times read like the telephony's (+08:00)."""
    return dt.datetime.now(CHINA)


class ClockNotStarted(RuntimeError):
    """External clock mode and no tick has arrived yet: the service does not know what time it is."""


class ServiceClock:
    """A service's `now`: the wall clock, or the last external tick (kept across restarts)."""

    def __init__(
        self,
        mode: str,
        load: Callable[[], dt.datetime | None] | None = None,
        save: Callable[[dt.datetime], None] | None = None,
    ) -> None:
        self.mode = mode
        self._save = save
        self._now: dt.datetime | None = load() if (load is not None and mode == "external") else None

    def now(self) -> dt.datetime:
        if self.mode == "wall":
            return wall_now()
        if self._now is None:
            raise ClockNotStarted("AFTERSALES_CLOCK=external and no clock tick has arrived yet")
        return self._now

    def known_now(self) -> dt.datetime | None:
        """`now`, or None in external mode before the first tick (a check that needs it is skipped)."""
        return wall_now() if self.mode == "wall" else self._now

    def advance(self, now: dt.datetime) -> bool:
        """Move to `now`; False (and no change) if it is not later than the current time."""
        if self.mode == "external" and self._now is not None and now <= self._now:
            return False
        if self.mode == "external":
            if self._save is not None:
                self._save(now)
            self._now = now
        return True
