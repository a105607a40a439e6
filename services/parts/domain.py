"""Parts' domain, in rooms: the old part (旧件) — its state, record and way back (`part_base.py`), its
disposition, sale and disposal (`selling.py`), its responsibility and supplier claim (`old_part.py`) —,
the market price of a region's day and the scrap ledger of one spec and source (`market.py`), typed
state (`state.py`) and identities (`identity.py`). Pure: no I/O, no clock.

Events are the Structs of `shared.events.parts_events` (one definition per event); the nested event
classes this module once held are mapped to them by `shared.events.legacy`. The aggregates stay
importable from here: the first stored event of each names its class by this module
(`services.parts.domain:OldPart`).
"""

from __future__ import annotations

from services.parts.identity import (
    CHINA,
    LEDGER_NAMESPACE,
    MARKET_NAMESPACE,
    PART_NAMESPACE,
    CommandRejected,
    china_date,
    is_blank,
    ledger_id_for,
    market_price_id_for,
    part_id_for,
    start_of_day,
)
from services.parts.market import MarketPrice, ScrapLedger
from services.parts.old_part import OldPart

__all__ = [
    "CHINA",
    "LEDGER_NAMESPACE",
    "MARKET_NAMESPACE",
    "PART_NAMESPACE",
    "CommandRejected",
    "MarketPrice",
    "OldPart",
    "ScrapLedger",
    "china_date",
    "is_blank",
    "ledger_id_for",
    "market_price_id_for",
    "part_id_for",
    "start_of_day",
]
