"""Parts' staff commands (docs/rules.md §5): old parts, on `aftersales.cmd.parts`."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

import msgspec

from shared.events.commands.common import Actor, NonEmpty

PartClass = Literal["domestic_non_critical", "domestic_critical", "imported_tested_in_china", "imported_tested_abroad"]
Fen = Annotated[int, msgspec.Meta(ge=0)]


class PartsCommand(msgspec.Struct, frozen=True, tag_field="command"):
    actor: Actor


class PartCommand(PartsCommand, frozen=True):
    """A command about one old part, named by its part id."""

    part_id: NonEmpty


class RecordPart(PartsCommand, frozen=True, tag="record_part"):
    """Record a replaced part by hand (PRT-RECORD), as dispatch's PartsReplaced does. Role: engineer or tq."""

    complaint_no: NonEmpty
    dispatch_order_no: NonEmpty
    equipment_no: NonEmpty
    material_code: NonEmpty
    quantity: Annotated[int, msgspec.Meta(gt=0)]
    unit_price_fen: Fen
    responsible_engineer: NonEmpty
    region: NonEmpty
    fault: NonEmpty
    return_to_hq: bool
    completed_on: dt.date
    description: str = ""
    part_id: str | None = None
    """Defaults to `<complaint_no>:<dispatch_order_no>:<material_code>`."""


class CompletePartRecord(PartCommand, frozen=True, tag="complete_record"):
    """Fill in what a part's record lacks (PRT-RECORD, 004 附件三), e.g. a part from dispatch without its
    equipment number or region; a recorded value is not overwritten. Until the region is known the part
    cannot be sold (PRT-REMOTE depends on it). Role: warehouse_keeper or old_parts_officer."""

    equipment_no: NonEmpty | None = None
    region: NonEmpty | None = None
    dispatch_order_no: NonEmpty | None = None
    material_code: NonEmpty | None = None
    responsible_engineer: NonEmpty | None = None
    fault: NonEmpty | None = None


class RecordMarketPrice(PartsCommand, frozen=True, tag="record_market_price"):
    """A region's scrap-metal market price of a day, per ton (PRT-PRICE-FLOOR). Role: old_parts_officer."""

    region: NonEmpty
    day: dt.date
    price_per_ton_fen: Annotated[int, msgspec.Meta(gt=0)]
    source: str | None = None


class ReportHandInDelay(PartCommand, frozen=True, tag="report_delay"):
    """The engineer expects a late hand-in and says why (PRT-DUE-7D); excuses FIN-PART-LATE if given
    before the due date passed. Role: engineer."""

    reason: NonEmpty
    expected_on: dt.date | None = None


class HandInPart(PartCommand, frozen=True, tag="hand_in"):
    """The engineer hands the old part in to the regional warehouse keeper. Role: engineer."""


class RecoverPart(PartCommand, frozen=True, tag="recover"):
    """The regional warehouse keeper confirms receipt (回收日期). Role: warehouse_keeper."""


class ShipPart(PartCommand, frozen=True, tag="ship"):
    """Ship the part to headquarters (返司日期). Role: warehouse_keeper."""

    waybill: str | None = None


class ReceivePartAtHq(PartCommand, frozen=True, tag="receive_at_hq"):
    """Headquarters received the part → PartReturned. Role: warehouse_keeper or old_parts_officer."""


class DecideDisposition(PartCommand, frozen=True, tag="decide_disposition"):
    """Return, sell locally, destroy or give away, with the facts that justify it (PRT-DISPOSITION).
    Role: old_parts_officer or tq."""

    disposition: Literal["return", "sell_local", "destroy_local", "give_away"]
    claim_value_fen: Fen = 0
    reuse_value_fen: Fen = 0
    return_freight_fen: Fen = 0
    sale_value_fen: Fen = 0
    needed_for_analysis: bool = False


class Quote(msgspec.Struct, frozen=True):
    buyer: NonEmpty
    contact: NonEmpty
    price_fen: Annotated[int, msgspec.Meta(gt=0)]


class ReportSale(PartCommand, frozen=True, tag="report_sale"):
    """A sale report (PRT-PRICE-FLOOR, PRT-REMOTE): ≥ 3 buyer quotes, the chosen buyer and price, the
    part's weight; priced against the region's market price of the day (or the per-ton reference price
    of `reference_class`). `remote_reduction` r ∈ [0.05, 0.10] in remote regions only. Below the floor a
    reason is required. Role: engineer, warehouse_keeper or old_parts_officer."""

    buyer: NonEmpty
    price_fen: Annotated[int, msgspec.Meta(gt=0)]
    weight_kg: Annotated[int, msgspec.Meta(gt=0)]
    quotes: list[Quote]
    remote_reduction: Decimal | None = None
    reason: str | None = None
    reference_class: str | None = None


class VerifySale(PartCommand, frozen=True, tag="verify_sale"):
    """The old-parts officer verified the sale report and its quotes. Role: old_parts_officer."""


class ApproveSale(PartCommand, frozen=True, tag="approve_sale"):
    """The general manager approves the sale (needed below the floor). Role: gm."""


class RecordSale(PartCommand, frozen=True, tag="record_sale"):
    """The sale took place → PartSold, proceeds to finance; below the floor only when verified and
    approved. Role: old_parts_officer or warehouse_keeper."""


class RequestDisposal(PartCommand, frozen=True, tag="request_disposal"):
    """Ask to destroy or give away the part (PRT-SCRAP-APPROVAL decides the approval level).
    Role: engineer, warehouse_keeper or old_parts_officer."""


class ApproveDisposal(PartCommand, frozen=True, tag="approve_disposal"):
    """Approve destruction or give-away at its level (PRT-SCRAP-APPROVAL): site (branch_manager),
    department (old_parts_officer), leadership (gm); a higher level may approve a lower one. Role: one
    of those (deputy_gm is refused)."""


class RecordDisposal(PartCommand, frozen=True, tag="dispose"):
    """The approved destruction or give-away took place. Role: engineer or warehouse_keeper."""

    recipient: str | None = None


class StartResponsibilityReview(PartCommand, frozen=True, tag="start_review"):
    """Begin the responsibility review; its deadline by part class (PRT-RESPONSIBILITY). Role: tq."""

    part_class: PartClass
    review_date: dt.date | None = None


class SettleResponsibility(PartCommand, frozen=True, tag="settle_responsibility"):
    """Attribute the cost to a department or a supplier; a supplier opens a claim (PRT-SUPPLIER-CLAIM).
    Role: tq."""

    attributed_to: Literal["department", "supplier"]
    party: NonEmpty
    cost_fen: Fen
    in_warranty: bool | None = None


class SettleSupplierClaim(PartCommand, frozen=True, tag="settle_claim"):
    """The supplier paid the claim (PRT-SUPPLIER-CLAIM). Role: finance."""

    recovered_fen: Fen


AnyPartsCommand = (
    RecordPart | RecordMarketPrice | CompletePartRecord | ReportHandInDelay | HandInPart | RecoverPart | ShipPart
    | ReceivePartAtHq | DecideDisposition | ReportSale | VerifySale | ApproveSale | RecordSale | RequestDisposal
    | ApproveDisposal | RecordDisposal | StartResponsibilityReview | SettleResponsibility | SettleSupplierClaim
)  # fmt: skip
_parts_command_decoder = msgspec.json.Decoder(AnyPartsCommand)


def decode_parts_command(raw: bytes) -> AnyPartsCommand:
    command: AnyPartsCommand = _parts_command_decoder.decode(raw)
    return command
