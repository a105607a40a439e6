"""The typed parts of an old part's state (no `dict[str, Any]` bags): its sale report, its disposal
request, its responsibility review and its supplier claim. Frozen: an event replaces them."""

from __future__ import annotations

import msgspec

from shared.events.decisions import Decision
from shared.events.parts_events import SaleQuote


class Sale(msgspec.Struct, frozen=True):
    """A sale report (旧件变卖申请单) with the PRT-PRICE-FLOOR decision it was priced by (`floor`), and who
    verified and approved it."""

    buyer: str
    price_fen: int
    quotes: list[SaleQuote]
    reason: str | None
    floor: Decision
    reported_by: str
    verified_by: str | None = None
    approved_by: str | None = None

    @property
    def floor_fen(self) -> int:
        return int(self.floor.outputs["floor_fen"])

    @property
    def below_floor(self) -> bool:
        return bool(self.floor.outputs["below_floor"])


class Superseded(msgspec.Struct, frozen=True):
    """An approval that no longer carries a disposal: by whom, at which level (PRT-SCRAP-APPROVAL)."""

    by: str
    level: str


class Disposal(msgspec.Struct, frozen=True):
    """A destruction or give-away request: the PRT-SCRAP-APPROVAL level its window's lots need, who
    approved it, and the ledger (material code, region) its lot went into, even if the record is
    completed later."""

    disposition: str
    level: str
    total_fen: int
    approvers: list[str]
    requested_on: str
    ledger: tuple[str, str]
    approved_by: str | None = None
    superseded: Superseded | None = None


class Responsibility(msgspec.Struct, frozen=True):
    """A responsibility review (PRT-RESPONSIBILITY): its due date is a deadline on the shared engine."""

    part_class: str
    review_date: str
    due_date: str
    settled: str | None = None


class Claim(msgspec.Struct, frozen=True):
    """A claim against the supplier (PRT-SUPPLIER-CLAIM)."""

    claim_id: str
    supplier: str
    amount_fen: int
    settled: bool = False
