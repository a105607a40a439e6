"""Staff commands (docs/rules.md §7): sent by the HTTP entry point to the owning service over NATS
request/reply. Each names the acting person and their role (`actor`), which the service sets from the
caller's credential (docs/contract.md §6; a different one is refused), and checks the role."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec

NonEmpty = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
Role = Literal[
    "agent", "tq", "engineer", "warehouse_keeper", "old_parts_officer", "branch_manager", "deputy_gm", "gm",
    "finance", "ops", "viewer",
]  # fmt: skip
"""Staff roles. `viewer` is read-only (dashboards, reporting tools): reads and reports, no command."""


class Actor(msgspec.Struct, frozen=True):
    id: NonEmpty
    role: Role


class IntakeCommand(msgspec.Struct, frozen=True, tag_field="command"):
    complaint_no: NonEmpty
    actor: Actor


class Relay(IntakeCommand, frozen=True, tag="relay"):
    """Relay the complaint to the technical-quality department (INT-RELAY-4WH). Role: agent."""


class CompleteRecord(IntakeCommand, frozen=True, tag="complete"):
    """Complete an incomplete record (INT-REQUIRED), e.g. `{"equipment.acceptance_date": "2025-06-01"}`.
    Role: agent."""

    fields: dict[str, Any]


class Classify(IntakeCommand, frozen=True, tag="classify"):
    """Classify a fault (INT-CLASSIFY, INT-LEVELS) → FaultClassified. Role: tq."""

    cause: Literal["quality", "non_quality"]
    level: Annotated[int, msgspec.Meta(ge=1, le=4)]
    on_site: bool


class Answer(IntakeCommand, frozen=True, tag="answer"):
    """Answer a consultation (INT-REPLY-8WH). Role: tq."""

    answer: NonEmpty


class DecideSolution(IntakeCommand, frozen=True, tag="decide_solution"):
    """Decide a fault's solution (INT-REPLY-8WH, WAR-LOANER). Role: tq."""

    solution: NonEmpty
    expected_repair_hours: Annotated[float, msgspec.Meta(ge=0, le=24 * 365)] = 0.0


class RecordRepair(IntakeCommand, frozen=True, tag="record_repair"):
    """A repair attempt's outcome (WAR-EXTEND-60D, WAR-LEMON). Role: engineer or tq."""

    problem: NonEmpty
    outcome: Literal["fixed", "failed"]
    stops_work: bool = False


class Close(IntakeCommand, frozen=True, tag="close"):
    """Close the complaint with its outcome. Role: tq or agent."""

    outcome: NonEmpty


class FineRecordIncomplete(IntakeCommand, frozen=True, tag="fine_record_incomplete"):
    """FIN-RECORD-INCOMPLETE: the record was unclear or incomplete and caused extra service cost.
    Role: branch_manager or tq."""

    reason: NonEmpty
    extra_cost_fen: Annotated[int, msgspec.Meta(gt=0)]


class RecordFirstContact(IntakeCommand, frozen=True, tag="first_contact"):
    """The first response (INT-LEVELS, docs/rules.md §9): a contact with the customer — who (the
    actor), when (now), by which channel, what was agreed, and the agreed visit time if any.
    Meets the first-response deadline of a fault or a consultation. Role: agent, tq or engineer."""

    channel: Literal["phone", "sms", "email", "wechat", "on_site"]
    agreed: NonEmpty
    visit_at: Annotated[dt.datetime, msgspec.Meta(tz=True)] | None = None
    """The agreed visit time, with its UTC offset, e.g. `2026-11-24T09:00:00+08:00`."""


class AttributeFine(IntakeCommand, frozen=True, tag="attribute_fine"):
    """Name the person of an unattributed fine (no person was known when it was levied, docs/rules.md
    §9); recorded as FineAttributed, the fine itself stays as levied. Role: branch_manager."""

    fine_id: NonEmpty
    person: NonEmpty
    role: Role
    reason: Annotated[str, msgspec.Meta(max_length=2000)] = ""


AnyIntakeCommand = (
    Relay
    | CompleteRecord
    | Classify
    | Answer
    | DecideSolution
    | RecordRepair
    | Close
    | FineRecordIncomplete
    | RecordFirstContact
    | AttributeFine
)
INTAKE_COMMANDS: dict[str, type[IntakeCommand]] = {
    "relay": Relay, "complete": CompleteRecord, "classify": Classify, "answer": Answer,
    "decide_solution": DecideSolution, "record_repair": RecordRepair, "close": Close,
    "fine_record_incomplete": FineRecordIncomplete, "first_contact": RecordFirstContact,
    "attribute_fine": AttributeFine,
}  # fmt: skip


class CommandReply(msgspec.Struct, frozen=True, omit_defaults=True):
    ok: bool
    status: int
    complaint_no: str | None = None
    events: list[str] = msgspec.field(default_factory=list)
    error: str | None = None


_command_decoder = msgspec.json.Decoder(AnyIntakeCommand)
_reply_decoder = msgspec.json.Decoder(CommandReply)


def decode_intake_command(raw: bytes) -> AnyIntakeCommand:
    command: AnyIntakeCommand = _command_decoder.decode(raw)
    return command


class PublishCalendar(msgspec.Struct, frozen=True, tag_field="command", tag="publish_calendar"):
    """Publish one year's working calendar as the State Council announced it (docs/rules.md §9,
    Calendar): the days off and the make-up workdays (调休), ISO dates. Role: ops. Sent by
    `aftersales calendar publish FILE.toml` on `aftersales.cmd.calendar`; intake records it."""

    actor: Actor
    year: Annotated[int, msgspec.Meta(ge=1901, le=2099)]
    holidays: Annotated[list[dt.date], msgspec.Meta(max_length=366)]
    workdays: Annotated[list[dt.date], msgspec.Meta(max_length=366)] = msgspec.field(default_factory=list)
    notice: Annotated[str, msgspec.Meta(max_length=500)] = ""


_calendar_decoder = msgspec.json.Decoder(PublishCalendar)


def decode_calendar_command(raw: bytes) -> PublishCalendar:
    command: PublishCalendar = _calendar_decoder.decode(raw)
    return command


class ErasePersonalData(msgspec.Struct, frozen=True, tag_field="command", tag="erase_personal_data"):
    """PII-ERASE (docs/rules.md §11): a customer asked for deletion of their personal data (PIPL).
    Intake destroys the customer's keys and records `PersonalDataErased` (who, why, when). Role: ops.
    Sent by `aftersales privacy erase --phone …` on `aftersales.cmd.privacy` (request/reply only:
    the phone is never stored)."""

    actor: Actor
    phone: Annotated[str, msgspec.Meta(min_length=3, max_length=40)]
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


_erase_decoder = msgspec.json.Decoder(ErasePersonalData)


def decode_erase_command(raw: bytes) -> ErasePersonalData:
    command: ErasePersonalData = _erase_decoder.decode(raw)
    return command


def decode_reply(raw: bytes) -> CommandReply:
    reply: CommandReply = _reply_decoder.decode(raw)
    return reply


# --------------------------------------------------------------------------- parts (docs/rules.md §5)

from decimal import Decimal  # noqa: E402

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


# ------------------------------------------------------------------------------- dispatch (docs/rules.md §3–4)

import datetime  # noqa: E402

Yuan = Annotated[int, msgspec.Meta(ge=0, le=100_000_000)]
"""Money in integer fen (分)."""
Moment = Annotated[datetime.datetime, msgspec.Meta(tz=True)]
"""A time with its UTC offset."""


class DispatchCommand(msgspec.Struct, frozen=True, tag_field="command"):
    """A staff command about one complaint's dispatch, fines or escalations."""

    complaint_no: NonEmpty
    actor: Actor


class RosterCommand(msgspec.Struct, frozen=True, tag_field="command"):
    """A staff command about the engineer roster (DSP-ASSIGN)."""

    engineer_id: NonEmpty
    actor: Actor


class RegisterEngineer(RosterCommand, frozen=True, tag="register_engineer"):
    """Put an engineer on the roster: region, product skills (models), current load, availability.
    Role: tq or branch_manager."""

    name: NonEmpty
    region: NonEmpty
    skills: list[NonEmpty]
    load: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 0
    available: bool = True


class UpdateEngineer(RosterCommand, frozen=True, tag="update_engineer"):
    """Change an engineer's region, skills, load or availability. Role: tq or branch_manager."""

    region: NonEmpty | None = None
    skills: list[NonEmpty] | None = None
    load: Annotated[int, msgspec.Meta(ge=0, le=1000)] | None = None
    available: bool | None = None


class RecordFeeConsent(DispatchCommand, frozen=True, tag="fee_consent"):
    """DSP-FEE-CONSENT: the customer was told the plan and the fee, and accepted or refused.
    Role: agent or tq."""

    accepted: bool
    fee_fen: Yuan
    plan: NonEmpty


class ApproveDispatch(DispatchCommand, frozen=True, tag="approve_dispatch"):
    """DSP-FEE-CONSENT: the deputy general manager approves service after the customer refused the fee.
    Role: deputy_gm."""

    reason: NonEmpty


class AssignEngineer(DispatchCommand, frozen=True, tag="assign_engineer"):
    """DSP-ASSIGN: try the assignment again (e.g. no engineer was available). Role: tq."""


class ReassignEngineer(DispatchCommand, frozen=True, tag="reassign_engineer"):
    """DSP-ASSIGN: the customer complained about the engineer; headquarters sends another. Role: tq."""

    reason: NonEmpty


class RecordArrival(DispatchCommand, frozen=True, tag="arrive"):
    """DSP-ARRIVE: the dispatched engineer arrived on site. Role: engineer."""


class FormPart(msgspec.Struct, frozen=True):
    material_code: NonEmpty
    quantity: Annotated[int, msgspec.Meta(gt=0, le=100_000)]
    unit_price_fen: Yuan
    description: str = ""
    return_to_hq: bool = True


class SubmitServiceForm(DispatchCommand, frozen=True, tag="service_form"):
    """DSP-FORM: the technical service form: work, parts, the customer's rating and signature.
    A signature before the service started is rejected. Role: engineer."""

    work: NonEmpty
    problem: NonEmpty
    outcome: Literal["fixed", "failed"]
    started_at: Moment
    finished_at: Moment
    signed_at: Moment
    signed_by: NonEmpty
    rating: Annotated[int, msgspec.Meta(ge=1, le=5)]
    parts: list[FormPart] = msgspec.field(default_factory=list)
    stops_work: bool = False


class ApproveReturn(DispatchCommand, frozen=True, tag="approve_return"):
    """DSP-RETURN-APPROVAL: the technical-quality department lets the engineer leave. Role: tq."""


class RecordReturn(DispatchCommand, frozen=True, tag="return"):
    """The engineer left the site (DSP-RETURN-APPROVAL; starts DSP-REPORT-3WD). Role: engineer."""


class FileReport(DispatchCommand, frozen=True, tag="report"):
    """DSP-REPORT-3WD: the written report with expense claim, returned materials, payments collected.
    Role: engineer."""

    summary: NonEmpty
    expense_claim_fen: Yuan = 0
    payments_collected_fen: Yuan = 0
    returned_materials: list[str] = msgspec.field(default_factory=list)


class StartAudit(DispatchCommand, frozen=True, tag="start_audit"):
    """DSP-AUDIT-5WD: technical quality takes up the audit after the report; the auditor (the actor, or
    the tq colleague named in `auditor`) answers for FIN-AUDIT-LATE. Again with another auditor hands it
    over. Role: tq."""

    auditor: NonEmpty | None = None


class RecordAudit(DispatchCommand, frozen=True, tag="audit"):
    """DSP-AUDIT-5WD: quality and the customer's rating confirmed, costs audited. Role: tq."""

    quality_confirmed: bool
    rating_confirmed: bool
    cost_approved_fen: Yuan = 0
    notes: str = ""


class ConfirmServiceFault(DispatchCommand, frozen=True, tag="confirm_service_fault"):
    """DSP-SERVICE-FAULT: technical quality's finding on a complaint about the service itself. With
    `at_fault` (the default) it confirms the service is responsible, on a `ground`: late, rude,
    repeat_repair (the same problem repaired again) or unapproved_charge; with `at_fault: false` it finds
    it is not (a later finding supersedes an earlier one). Counts towards the KPI 用户抱怨率 (service at
    fault < 3 %). Role: tq."""

    finding: NonEmpty
    at_fault: bool = True
    ground: NonEmpty | None = None


class RecordFollowUp(DispatchCommand, frozen=True, tag="followup"):
    """DSP-FOLLOWUP: the quarterly phone follow-up was made. Role: agent or tq."""

    notes: NonEmpty


class LevyFine(DispatchCommand, frozen=True, tag="levy_fine"):
    """A ranged fine (FIN-RETURN-UNAPPROVED, FIN-FORM-FALSIFIED: 50–500 yuan) with a reason;
    amounts outside the range are rejected. Role: branch_manager."""

    rule: Literal["FIN-RETURN-UNAPPROVED", "FIN-FORM-FALSIFIED"]
    amount_fen: Yuan
    reason: NonEmpty


class DisputeFine(DispatchCommand, frozen=True, tag="dispute_fine"):
    """Dispute a fine (any fine on the complaint, intake's too). Role: any staff but ops."""

    fine_id: NonEmpty
    reason: NonEmpty


class ReverseFine(DispatchCommand, frozen=True, tag="reverse_fine"):
    """Reverse a fine by a new event pointing at it. Role: branch_manager, deputy_gm or gm."""

    fine_id: NonEmpty
    reason: NonEmpty


class AcknowledgeEscalation(DispatchCommand, frozen=True, tag="acknowledge_escalation"):
    """Acknowledge an escalation (branch manager's, deputy GM's or management's own)."""

    escalation_id: NonEmpty
    note: str = ""


AnyDispatchCommand = (
    RegisterEngineer | UpdateEngineer | RecordFeeConsent | ApproveDispatch | AssignEngineer | ReassignEngineer
    | RecordArrival | SubmitServiceForm | ApproveReturn | RecordReturn | FileReport | StartAudit | RecordAudit
    | ConfirmServiceFault | RecordFollowUp
    | LevyFine | DisputeFine | ReverseFine | AcknowledgeEscalation
)  # fmt: skip
_dispatch_decoder = msgspec.json.Decoder(AnyDispatchCommand)


def decode_dispatch_command(raw: bytes) -> AnyDispatchCommand:
    command: AnyDispatchCommand = _dispatch_decoder.decode(raw)
    return command
