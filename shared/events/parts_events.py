"""Parts' events (docs/contract.md §3, `aftersales.parts.<Type>`): the old part (旧件), the market price
of a region's day and the scrap ledger of one spec and source. Each Struct is the domain event and the
wire payload in one (shared/events/base.py); the nested classes of services/parts/domain.py that held
them before are mapped to them by `shared.events.legacy`.

A decision event's rule id, policy version and inputs travel in the envelope; its data holds `outputs`
and its own fields. Dates are ISO strings (`2026-12-01`), money integer fen.
"""

from __future__ import annotations

from typing import Any

import msgspec

from shared.events.base import CreatedEvent, DecisionEvent, DomainEvent


class PartRecord(msgspec.Struct, frozen=True, kw_only=True):
    """The PRT-RECORD columns of one replaced part (004 附件三); a text column may be blank until someone
    completes the record (PartRecordCompleted)."""

    dispatch_order_no: str | None = None  # 审批号
    equipment_no: str | None = None
    material_code: str | None = None
    description: str | None = None
    quantity: int = 0
    unit_price_fen: int = 0
    total_fen: int = 0
    responsible_engineer: str | None = None
    region: str | None = None
    fault: str | None = None
    return_to_hq: bool = False
    completed_on: str = ""


class SaleQuote(msgspec.Struct, frozen=True):
    """A buyer's quote on a sale report (PRT-PRICE-FLOOR)."""

    buyer: str
    contact: str
    price_fen: int


class ScrapLot(msgspec.Struct, frozen=True):
    """A disposal lot as PRT-SCRAP-APPROVAL sums it: the part, its original value, the day requested."""

    part_id: str
    original_value_fen: int
    on: str


class PartRecorded(CreatedEvent, frozen=True, kw_only=True):
    """PRT-RECORD + PRT-DUE-7D: a replaced part recorded; `outputs.due_date` is its hand-in due date."""

    rule: str
    policy_version: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    part_id: str
    complaint_no: str
    dispatch_id: str | None
    record: PartRecord
    recorded_by: str


class PartRecordIncomplete(DecisionEvent, frozen=True, kw_only=True):
    """PRT-RECORD (parts-2026.2): the record lacks `missing`; a sale waits for `outputs.sale_blocked_by`."""

    missing: list[str]


class PartRecordCompleted(DecisionEvent, frozen=True, kw_only=True):
    """PRT-RECORD: `fields` filled in by `actor` (`role`); `missing` is what the record still lacks."""

    actor: str
    role: str
    fields: dict[str, str]
    missing: list[str]


class PartHandInDelayReported(DomainEvent, frozen=True, kw_only=True):
    """The engineer expects a late hand-in and gives the reason (PRT-DUE-7D); before the fine, this
    excuses FIN-PART-LATE."""

    actor: str
    reason: str
    expected_on: str | None
    excuses_fine: bool


class PartOverdue(DecisionEvent, frozen=True, kw_only=True):
    """The clock passed the due date and the part is not handed in: its delay days (PRT-DUE-7D)."""

    delay_days: int
    excused: bool


class PartFineLevied(DecisionEvent, frozen=True, kw_only=True):
    """FIN-PART-LATE: a decision about a person, with the facts that triggered it."""

    fine_id: str
    person: str | None
    role: str
    department: str
    amount_fen: int
    reason: str


class PartHandedIn(DomainEvent, frozen=True, kw_only=True):
    """The engineer handed the old part in to the regional warehouse keeper (交旧件)."""

    actor: str
    handed_in_on: str
    delay_days: int
    late: bool


class PartRecovered(DomainEvent, frozen=True, kw_only=True):
    """The regional warehouse keeper received the part (回收日期)."""

    actor: str
    recovered_on: str


class PartShipped(DomainEvent, frozen=True, kw_only=True):
    """Shipped to headquarters (返司日期)."""

    actor: str
    shipped_on: str
    waybill: str | None


class PartReturned(DomainEvent, frozen=True, kw_only=True):
    """Received at headquarters (返司)."""

    actor: str
    received_on: str


class DispositionDecided(DecisionEvent, frozen=True, kw_only=True):
    """PRT-DISPOSITION: return, sell locally, destroy or give away."""

    actor: str
    disposition: str


class SaleReported(DecisionEvent, frozen=True, kw_only=True):
    """A sale report (旧件变卖申请单): buyer quotes, price, and the floor decided from the market."""

    actor: str
    buyer: str
    price_fen: int
    quotes: list[SaleQuote]
    reason: str | None


class SaleVerified(DomainEvent, frozen=True, kw_only=True):
    """The old-parts officer verified the sale report and its quotes."""

    actor: str


class SaleApproved(DomainEvent, frozen=True, kw_only=True):
    """The general manager approved a sale below the floor."""

    actor: str


class PartSold(DecisionEvent, frozen=True, kw_only=True):
    """PRT-PRICE-FLOOR: the sale, naming its floor (`floor_fen`, `outputs`), quotes and rule (envelope);
    the proceeds go to finance only (PRT-SCRAP-APPROVAL)."""

    actor: str
    buyer: str
    price_fen: int
    proceeds_fen: int
    floor_fen: int
    below_floor: bool
    quotes: list[SaleQuote]
    reason: str | None
    verified_by: str | None
    approved_by: str | None
    payable_to: str


class DisposalRequested(DecisionEvent, frozen=True, kw_only=True):
    """Destruction or give-away requested, at the PRT-SCRAP-APPROVAL level of its window's lots."""

    actor: str
    disposition: str
    original_value_fen: int


class DisposalApproved(DecisionEvent, frozen=True, kw_only=True):
    """Approved at the level the whole window's lots need (re-decided at approval: no splitting)."""

    actor: str
    role: str


class DisposalRelevelled(DecisionEvent, frozen=True, kw_only=True):
    """PRT-SCRAP-APPROVAL (parts-2026.2): the window's sum now needs `outputs.level`; an approval given at
    `level_before` (by `superseded_approval`) no longer carries the disposal."""

    level_before: str
    superseded_approval: str | None


class PartDisposed(DomainEvent, frozen=True, kw_only=True):
    """The part was destroyed or given away."""

    actor: str
    disposition: str
    recipient: str | None
    disposed_on: str


class ResponsibilityReviewStarted(DecisionEvent, frozen=True, kw_only=True):
    """PRT-RESPONSIBILITY: the review began; `outputs.due_date` is when it must be settled."""

    actor: str
    part_class: str
    review_date: str


class ResponsibilityEscalated(DomainEvent, frozen=True, kw_only=True):
    """PRT-RESPONSIBILITY: not settled in time."""

    escalation_id: str
    trigger_rule: str
    to: str
    reason: str


class ResponsibilitySettled(DomainEvent, frozen=True, kw_only=True):
    """The outcome attributes the cost to a department or to a supplier."""

    actor: str
    attributed_to: str
    party: str
    cost_fen: int
    settled_on: str
    late: bool


class SupplierClaimOpened(DecisionEvent, frozen=True, kw_only=True):
    """PRT-SUPPLIER-CLAIM: a bought-in part that failed is claimed back from its supplier."""

    claim_id: str
    supplier: str
    amount_fen: int


class SupplierClaimSettled(DomainEvent, frozen=True, kw_only=True):
    actor: str
    claim_id: str
    recovered_fen: int
    settled_on: str


class MarketPriceRecorded(CreatedEvent, frozen=True, kw_only=True):
    """A region's scrap-metal market price of a day, per ton (PRT-PRICE-FLOOR)."""

    region: str
    day: str
    price_per_ton_fen: int
    source: str | None
    actor: str


class MarketPriceRevised(DomainEvent, frozen=True, kw_only=True):
    """A region's market price of a day, revised (the same fields as when it was recorded)."""

    region: str
    day: str
    price_per_ton_fen: int
    source: str | None
    actor: str


class ScrapLedgerOpened(CreatedEvent, frozen=True, kw_only=True):
    material_code: str
    source: str


class ScrapLotAdded(DomainEvent, frozen=True, kw_only=True):
    lot: ScrapLot
