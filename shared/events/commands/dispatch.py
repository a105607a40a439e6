"""Dispatch's staff commands (docs/rules.md §3–4): dispatch, visit, fines and escalations, the engineer
roster; on `aftersales.cmd.dispatch`."""

from __future__ import annotations

import datetime
from typing import Annotated, Literal

import msgspec

from shared.events.commands.common import Actor, NonEmpty

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
