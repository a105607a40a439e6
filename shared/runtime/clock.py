"""Time (CONTRACT §2): the wall clock by default; with AFTERSALES_CLOCK=external, only ticks.

A tick is `{"now": "<ISO time with offset>"}` on `aftersales.clock.tick`. Each service reads ticks
through its own durable consumer, so a tick published while it was down still arrives. Time never
goes backwards: an older tick than the last one seen is ignored.
"""

from __future__ import annotations

import datetime as dt

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


def wall_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
