"""The market price of a region's day (PRT-PRICE-FLOOR) and the scrap ledger of one spec and source
(PRT-SCRAP-APPROVAL: lots cannot be split under an approval threshold). Pure."""

from __future__ import annotations

import datetime as dt
from typing import Self

from services.parts.identity import ledger_id_for, market_price_id_for
from shared.domain.aggregate import EventSourced, applies
from shared.events import parts_events as pe
from shared.events.decisions import Actor


class MarketPrice(EventSourced):
    """The scrap-metal market price of one region and day (PRT-PRICE-FLOOR), per ton."""

    region: str
    day: str
    price_per_ton_fen: int

    @property
    def correlation_id(self) -> str:
        return f"market-price:{self.region}:{self.day}"

    @classmethod
    def record(
        cls, region: str, day: dt.date, price_per_ton_fen: int, source: str | None, actor: Actor, at: dt.datetime,
        causation_id: str,
    ) -> Self:  # fmt: skip
        day_text = day.isoformat()
        return cls._open(pe.MarketPriceRecorded, market_price_id_for(region, day), at,
                         f"market-price:{region}:{day_text}", causation_id, region=region, day=day_text,
                         price_per_ton_fen=price_per_ton_fen, source=source, actor=actor.id)  # fmt: skip

    @applies(pe.MarketPriceRecorded)
    def _recorded(self, e: pe.MarketPriceRecorded) -> None:
        self.region, self.day, self.price_per_ton_fen = e.region, e.day, e.price_per_ton_fen

    def revise(
        self, price_per_ton_fen: int, source: str | None, actor: Actor, at: dt.datetime, causation_id: str
    ) -> None:
        self._trigger(pe.MarketPriceRevised, at, causation_id, region=self.region, day=self.day,
                      price_per_ton_fen=price_per_ton_fen, source=source, actor=actor.id)  # fmt: skip

    @applies(pe.MarketPriceRevised)
    def _revised(self, e: pe.MarketPriceRevised) -> None:
        self.price_per_ton_fen = e.price_per_ton_fen


class ScrapLedger(EventSourced):
    """Every disposal lot of one spec (material code) from one source (region): what PRT-SCRAP-APPROVAL
    sums so that a lot cannot be split under a threshold. Saved with the part, so two requests at once
    cannot both miss each other. Its events are correlated by the complaint of the part each concerns."""

    material_code: str
    source: str
    lots: list[pe.ScrapLot]

    @property
    def correlation_id(self) -> str:
        return f"scrap-ledger:{self.material_code}:{self.source}"

    @classmethod
    def open(cls, material_code: str, source: str, at: dt.datetime, complaint_no: str, causation_id: str) -> Self:
        return cls._open(pe.ScrapLedgerOpened, ledger_id_for(material_code, source), at, complaint_no, causation_id,
                         material_code=material_code, source=source)  # fmt: skip

    @applies(pe.ScrapLedgerOpened)
    def _opened(self, e: pe.ScrapLedgerOpened) -> None:
        self.material_code, self.source, self.lots = e.material_code, e.source, []

    def add(self, lot: pe.ScrapLot, at: dt.datetime, complaint_no: str, causation_id: str) -> None:
        self._trigger_as(pe.ScrapLotAdded, at, complaint_no, causation_id, lot=lot)

    @applies(pe.ScrapLotAdded)
    def _lot_added(self, e: pe.ScrapLotAdded) -> None:
        self.lots.append(e.lot)
