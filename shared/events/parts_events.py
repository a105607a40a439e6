"""Wire payloads of events the parts service publishes (`aftersales.parts.<Type>`).

Registered into the shared catalog on import (catalog.py imports this module at its end).
A decision event's rule id, policy version and inputs are in the envelope; its data holds `outputs`.
Dates are ISO strings (`2026-12-01`), money integer fen.
"""

from __future__ import annotations

from typing import Any

import msgspec

from shared.events.catalog import EventSpec, register


class PartRecorded(msgspec.Struct, frozen=True):
    """PRT-RECORD + PRT-DUE-7D: a replaced part recorded; `outputs.due_date` is its hand-in due date."""

    outputs: dict[str, Any]
    part_id: str
    complaint_no: str
    dispatch_id: str | None
    record: dict[str, Any]
    """dispatch_order_no (审批号), equipment_no, material_code, description, quantity, unit_price_fen,
    total_fen, responsible_engineer, region, fault, return_to_hq, completed_on."""
    recorded_by: str


class PartRecordIncomplete(msgspec.Struct, frozen=True):
    """PRT-RECORD (parts-2026.2): the record lacks `missing`; a sale waits for `outputs.sale_blocked_by`."""

    outputs: dict[str, Any]
    missing: list[str]


class PartRecordCompleted(msgspec.Struct, frozen=True):
    """PRT-RECORD: `fields` filled in by `actor` (`role`); `missing` is what the record still lacks."""

    outputs: dict[str, Any]
    actor: str
    role: str
    fields: dict[str, Any]
    missing: list[str]


class PartHandInDelayReported(msgspec.Struct, frozen=True):
    actor: str
    reason: str
    expected_on: str | None
    excuses_fine: bool


class PartOverdue(msgspec.Struct, frozen=True):
    outputs: dict[str, Any]
    delay_days: int
    excused: bool


class PartFineLevied(msgspec.Struct, frozen=True):
    outputs: dict[str, Any]
    fine_id: str
    person: str | None
    role: str
    department: str
    amount_fen: int
    reason: str


class PartHandedIn(msgspec.Struct, frozen=True):
    actor: str
    handed_in_on: str
    delay_days: int
    late: bool


class PartRecovered(msgspec.Struct, frozen=True):
    actor: str
    recovered_on: str


class PartShipped(msgspec.Struct, frozen=True):
    actor: str
    shipped_on: str
    waybill: str | None


class PartReturned(msgspec.Struct, frozen=True):
    actor: str
    received_on: str


class DispositionDecided(msgspec.Struct, frozen=True):
    outputs: dict[str, Any]
    actor: str
    disposition: str


class SaleReported(msgspec.Struct, frozen=True):
    outputs: dict[str, Any]
    actor: str
    buyer: str
    price_fen: int
    quotes: list[dict[str, Any]]
    reason: str | None


class SaleVerified(msgspec.Struct, frozen=True):
    actor: str


class SaleApproved(msgspec.Struct, frozen=True):
    actor: str


class PartSold(msgspec.Struct, frozen=True):
    """PRT-PRICE-FLOOR: the sale, naming its floor (`floor_fen`, `outputs`), quotes and rule (envelope)."""

    outputs: dict[str, Any]
    actor: str
    buyer: str
    price_fen: int
    proceeds_fen: int
    floor_fen: int
    below_floor: bool
    quotes: list[dict[str, Any]]
    reason: str | None
    verified_by: str | None
    approved_by: str | None
    payable_to: str


class DisposalRequested(msgspec.Struct, frozen=True):
    outputs: dict[str, Any]
    actor: str
    disposition: str
    original_value_fen: int


class DisposalApproved(msgspec.Struct, frozen=True):
    outputs: dict[str, Any]
    actor: str
    role: str


class DisposalRelevelled(msgspec.Struct, frozen=True):
    """PRT-SCRAP-APPROVAL (parts-2026.2): the window's sum now needs `outputs.level`; an approval given at
    `level_before` (by `superseded_approval`) no longer carries the disposal."""

    outputs: dict[str, Any]
    level_before: str
    superseded_approval: str | None


class PartDisposed(msgspec.Struct, frozen=True):
    actor: str
    disposition: str
    recipient: str | None
    disposed_on: str


class ResponsibilityReviewStarted(msgspec.Struct, frozen=True):
    outputs: dict[str, Any]
    actor: str
    part_class: str
    review_date: str


class ResponsibilityEscalated(msgspec.Struct, frozen=True):
    escalation_id: str
    trigger_rule: str
    to: str
    reason: str


class ResponsibilitySettled(msgspec.Struct, frozen=True):
    actor: str
    attributed_to: str
    party: str
    cost_fen: int
    settled_on: str
    late: bool


class SupplierClaimOpened(msgspec.Struct, frozen=True):
    outputs: dict[str, Any]
    claim_id: str
    supplier: str
    amount_fen: int


class SupplierClaimSettled(msgspec.Struct, frozen=True):
    actor: str
    claim_id: str
    recovered_fen: int
    settled_on: str


class MarketPriceRecorded(msgspec.Struct, frozen=True):
    region: str
    day: str
    price_per_ton_fen: int
    source: str | None
    actor: str


class ScrapLedgerOpened(msgspec.Struct, frozen=True):
    material_code: str
    source: str


class ScrapLotAdded(msgspec.Struct, frozen=True):
    lot: dict[str, Any]


for _type, _payload, _summary in (
    ("PartRecorded", PartRecorded, "A replaced part was recorded, with its hand-in due date (PRT-RECORD, PRT-DUE-7D)."),
    ("PartRecordIncomplete", PartRecordIncomplete, "The record lacks PRT-RECORD fields; a sale waits for the region."),
    ("PartRecordCompleted", PartRecordCompleted, "Missing fields of the part's record filled in (PRT-RECORD)."),
    ("PartHandInDelayReported", PartHandInDelayReported, "The engineer gave a reason for a late hand-in."),
    ("PartOverdue", PartOverdue, "The part's delay days grew with the clock (PRT-DUE-7D)."),
    ("PartFineLevied", PartFineLevied, "FIN-PART-LATE: not handed in by the due date, no reason reported."),
    ("PartHandedIn", PartHandedIn, "The engineer handed the part in to the regional warehouse keeper."),
    ("PartRecovered", PartRecovered, "The regional warehouse keeper received the part (回收日期)."),
    ("PartShipped", PartShipped, "The part was shipped to headquarters (返司日期)."),
    ("PartReturned", PartReturned, "Headquarters received the part (返司)."),
    ("DispositionDecided", DispositionDecided, "Return, sell locally, destroy or give away (PRT-DISPOSITION)."),
    ("SaleReported", SaleReported, "A sale report with quotes and the price floor (PRT-PRICE-FLOOR, PRT-REMOTE)."),
    ("SaleVerified", SaleVerified, "The old-parts officer verified a sale report."),
    ("SaleApproved", SaleApproved, "The general manager approved a sale below the floor."),
    ("PartSold", PartSold, "Sold locally: floor, quotes, rule and the proceeds for finance (PRT-PRICE-FLOOR)."),
    ("DisposalRequested", DisposalRequested, "Destruction or give-away requested (PRT-SCRAP-APPROVAL level)."),
    ("DisposalApproved", DisposalApproved, "Destruction or give-away approved at its level (PRT-SCRAP-APPROVAL)."),
    ("DisposalRelevelled", DisposalRelevelled, "Split lots summed past a threshold: higher approval needed."),
    ("PartDisposed", PartDisposed, "The part was destroyed or given away."),
    ("ResponsibilityReviewStarted", ResponsibilityReviewStarted, "Responsibility review and its deadline."),
    ("ResponsibilityEscalated", ResponsibilityEscalated, "Responsibility not settled in time (PRT-RESPONSIBILITY)."),
    ("ResponsibilitySettled", ResponsibilitySettled, "The cost attributed to a department or a supplier."),
    ("SupplierClaimOpened", SupplierClaimOpened, "A claim against the supplier (PRT-SUPPLIER-CLAIM)."),
    ("SupplierClaimSettled", SupplierClaimSettled, "The supplier claim was settled."),
    ("MarketPriceRecorded", MarketPriceRecorded, "A region's scrap-metal market price of a day, per ton."),
    ("MarketPriceRevised", MarketPriceRecorded, "A region's market price of a day, revised."),
    ("ScrapLedgerOpened", ScrapLedgerOpened, "Disposal lots of one spec and source begin to be summed."),
    ("ScrapLotAdded", ScrapLotAdded, "A disposal lot counted against the no-splitting rule (PRT-SCRAP-APPROVAL)."),
):
    register(EventSpec(_type, 1, _payload, "parts", _summary))
