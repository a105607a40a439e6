"""Dispatch's events (docs/contract.md §3): the engineer roster and the dispatch case. Each Struct is
the domain event and the wire payload in one (shared/events/base.py); deadlines, fines and escalations
are the shared `common_events`. Registered into the shared catalog on import (catalog.py imports this
module at its end)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from shared.events.base import CreatedEvent, DecisionEvent, DomainEvent
from shared.events.catalog import EventSpec, register
from shared.events.values import CustomerInfo, EquipmentInfo, SiteInfo

ROSTER_CORRELATION = "roster"
"""The correlation id of every roster event (they are about no complaint)."""


class ReplacedPart(msgspec.Struct, frozen=True):
    """One replaced part as the service form lists it, with every PRT-RECORD field."""

    part_id: str
    dispatch_order_no: str  # 审批号
    equipment_no: str
    material_code: str
    description: str
    quantity: int
    unit_price_fen: int
    total_fen: int
    responsible_engineer: str
    region: str
    fault: str
    return_to_hq: bool
    completed_on: dt.date


class EngineerChanges(msgspec.Struct, frozen=True):
    """What an update changed: only the fields given (UNSET ones are not on the wire)."""

    region: str | UnsetType = UNSET
    skills: list[str] | UnsetType = UNSET
    load: int | UnsetType = UNSET
    available: bool | UnsetType = UNSET


# ------------------------------------------------------------------------------------- the roster


class RosterOpened(CreatedEvent, frozen=True, kw_only=True):
    """The engineer roster was opened (one per deployment)."""


class EngineerRegistered(DomainEvent, frozen=True, kw_only=True):
    engineer_id: str
    name: str
    region: str
    skills: list[str]
    load: int
    available: bool
    actor: str


class EngineerUpdated(DomainEvent, frozen=True, kw_only=True):
    engineer_id: str
    changes: EngineerChanges
    actor: str


class EngineerLoadChanged(DomainEvent, frozen=True, kw_only=True):
    """An engineer took on (+1) or finished (−1) a dispatch."""

    engineer_id: str
    delta: int
    complaint_no: str


# --------------------------------------------------------------------------------- the dispatch case


class DispatchCaseOpened(CreatedEvent, frozen=True, kw_only=True):
    """A complaint intake registered, as dispatch keeps it (its receipt time starts DSP-ARRIVE)."""

    complaint_no: str
    received_at: dt.datetime
    kind: str
    agent_id: str | None
    customer: CustomerInfo
    equipment: EquipmentInfo
    site: SiteInfo


class OnSiteServiceNeeded(DomainEvent, frozen=True, kw_only=True):
    """INT-CLASSIFY said on-site service is needed: the dispatch begins."""

    classified_by: str
    cause: str
    level: int
    in_warranty: bool | None
    equipment: EquipmentInfo
    site: SiteInfo


class PayerNoted(DomainEvent, frozen=True, kw_only=True):
    """Who pays, as intake decided it (WAR-FREE / WAR-MISUSE / WAR-OUT)."""

    applies: str | None
    payer: str | None
    fee_consent_required: bool | None


class FeeConsentDecided(DecisionEvent, frozen=True, kw_only=True):
    """DSP-FEE-CONSENT: whether dispatch may go ahead, or waits for the customer or the deputy GM (its
    wire `data` is only `outputs`; not a `DecisionOutputs`, which the read model folds as intake's)."""


class FeeConsentRecorded(DomainEvent, frozen=True, kw_only=True):
    actor: str
    accepted: bool
    fee_fen: int
    plan: str


class DispatchApproved(DomainEvent, frozen=True, kw_only=True):
    """The deputy general manager approved service after the customer refused the fee."""

    actor: str
    reason: str


class EngineerAssigned(DecisionEvent, frozen=True, kw_only=True):
    """DSP-ASSIGN: the engineer chosen (or none available); the roster it chose from is in `inputs`."""

    engineer_id: str | None


class EngineerDispatched(DomainEvent, frozen=True, kw_only=True):
    engineer_id: str
    dispatch_order_no: str
    region: str | None
    dispatched_at: dt.datetime


class EngineerWithdrawn(DomainEvent, frozen=True, kw_only=True):
    """Headquarters took the engineer off the case (the customer complained about them)."""

    engineer_id: str
    actor: str
    reason: str


class EngineerArrived(DomainEvent, frozen=True, kw_only=True):
    engineer_id: str
    arrived_at: dt.datetime


class ServiceFormSigned(DecisionEvent, frozen=True, kw_only=True):
    """DSP-FORM: the technical service form (技术服务单), valid and signed; `form` is the rule's inputs."""

    engineer_id: str
    dispatch_order_no: str
    form: dict[str, Any]


class PartsReplaced(DomainEvent, frozen=True, kw_only=True):
    """dispatch → parts: the parts a signed service form replaced (PRT-RECORD)."""

    complaint_no: str
    dispatch_id: str
    parts: list[ReplacedPart]
    completed_at: dt.datetime


class RepairOutcomeRecorded(DomainEvent, frozen=True, kw_only=True):
    """dispatch → intake: a repair attempt's outcome, for WAR-EXTEND-60D and WAR-LEMON."""

    complaint_no: str
    serial: str | None
    engineer_id: str
    problem: str
    outcome: str
    stops_work: bool
    completed_at: dt.datetime


class ReturnApproved(DomainEvent, frozen=True, kw_only=True):
    """DSP-RETURN-APPROVAL: the technical-quality department let the engineer leave the site."""

    actor: str
    approved_at: dt.datetime


class EngineerReturned(DecisionEvent, frozen=True, kw_only=True):
    """The engineer left the site; DSP-RETURN-APPROVAL says whether with approval
    (`outputs.left_without_approval`)."""

    engineer_id: str
    returned_at: dt.datetime


class ReportFiled(DomainEvent, frozen=True, kw_only=True):
    """DSP-REPORT-3WD: the written report with the form, expense claim, materials and payments."""

    actor: str
    reported_at: dt.datetime
    summary: str
    expense_claim_fen: int
    payments_collected_fen: int
    returned_materials: list[str]


class AuditStarted(DomainEvent, frozen=True, kw_only=True):
    """DSP-AUDIT-5WD: technical quality took up the audit; `auditor` answers for it (FIN-AUDIT-LATE)."""

    actor: str
    auditor: str


class AuditCompleted(DomainEvent, frozen=True, kw_only=True):
    """DSP-AUDIT-5WD: quality and the customer's rating confirmed, costs audited."""

    actor: str
    audited_at: dt.datetime
    quality_confirmed: bool
    rating_confirmed: bool
    cost_approved_fen: int
    notes: str


class ServiceFaultDecided(DecisionEvent, frozen=True, kw_only=True):
    """DSP-SERVICE-FAULT: tq's finding (`outputs.service_at_fault`, `outputs.ground`)."""

    actor: str
    finding: str


class FollowUpScheduled(DecisionEvent, frozen=True, kw_only=True):
    """DSP-FOLLOWUP: a quarterly phone follow-up (`outputs.due_at`, `outputs.quarter`)."""


class FollowUpDue(DomainEvent, frozen=True, kw_only=True):
    quarter: int
    customer: CustomerInfo


class FollowUpRecorded(DomainEvent, frozen=True, kw_only=True):
    actor: str
    quarter: int
    notes: str


# ------------------------------------------------------------------------- fines and escalations


class IntakeFineNoted(DomainEvent, frozen=True, kw_only=True):
    """A fine intake levied on this complaint, noted so that it can be disputed and reversed here."""

    fine_id: str
    fine_rule: str
    person: str | None
    role: str
    department: str
    amount_fen: int


class PartFineNoted(IntakeFineNoted, frozen=True, kw_only=True):
    """A fine the old-parts service levied (FIN-PART-LATE), noted so it can be disputed here."""


class FineDisputed(DomainEvent, frozen=True, kw_only=True):
    fine_id: str
    actor: str
    reason: str


class FineReversed(DomainEvent, frozen=True, kw_only=True):
    """A fine reversed by a new event that points at it (`fine_id`); it nets the fine to zero."""

    fine_id: str
    actor: str
    reason: str
    fine_rule: str
    person: str | None
    role: str
    department: str
    amount_fen: int


class IntakeEscalationNoted(DecisionEvent, frozen=True, kw_only=True):
    """An escalation intake raised, noted so that it is acknowledged, or escalated further, here
    (ESC-CHAIN set `ack_due_at`)."""

    escalation_id: str
    trigger_rule: str
    to: str
    ack_due_at: str | None


class EscalationAcknowledged(DomainEvent, frozen=True, kw_only=True):
    escalation_id: str
    actor: str
    note: str


class EscalationForwarded(DecisionEvent, frozen=True, kw_only=True):
    """Left unacknowledged past the policy time (ESC-CHAIN): passed one level up as a new escalation."""

    escalation_id: str
    forwarded_to: str
    forwarded_as: str


for _payload, _summary in (
    (PartsReplaced, "Parts replaced on a signed service form."),
    (RosterOpened, "The engineer roster was opened."),
    (EngineerRegistered, "An engineer joined the roster (DSP-ASSIGN)."),
    (EngineerUpdated, "An engineer's region, skills, load or availability changed."),
    (EngineerLoadChanged, "An engineer took on or finished a dispatch."),
    (DispatchCaseOpened, "Dispatch opened its case for a registered complaint."),
    (OnSiteServiceNeeded, "The fault needs on-site service: dispatch begins."),
    (PayerNoted, "Who pays, as intake decided it."),
    (FeeConsentDecided, "Whether dispatch may go ahead (DSP-FEE-CONSENT)."),
    (FeeConsentRecorded, "The customer accepted or refused the fee (DSP-FEE-CONSENT)."),
    (DispatchApproved, "The deputy GM approved service after a refused fee (DSP-FEE-CONSENT)."),
    (EngineerAssigned, "An engineer was chosen, or none was available (DSP-ASSIGN)."),
    (EngineerDispatched, "The engineer was dispatched; DSP-ARRIVE runs from receipt."),
    (EngineerWithdrawn, "Headquarters took the engineer off the case (DSP-ASSIGN)."),
    (EngineerArrived, "The engineer arrived on site (DSP-ARRIVE)."),
    (ServiceFormSigned, "The technical service form was signed (DSP-FORM)."),
    (RepairOutcomeRecorded, "A repair's outcome (for WAR-EXTEND-60D, WAR-LEMON)."),
    (ReturnApproved, "The engineer may leave the site (DSP-RETURN-APPROVAL)."),
    (EngineerReturned, "The engineer left the site (DSP-RETURN-APPROVAL)."),
    (ReportFiled, "The engineer's written report (DSP-REPORT-3WD)."),
    (AuditStarted, "Technical quality took up the audit; names the auditor (DSP-AUDIT-5WD)."),
    (AuditCompleted, "Quality, rating and costs confirmed (DSP-AUDIT-5WD)."),
    (ServiceFaultDecided, "tq's finding: service itself at fault? (DSP-SERVICE-FAULT)"),
    (FollowUpScheduled, "A quarterly follow-up call was scheduled (DSP-FOLLOWUP)."),
    (FollowUpDue, "A quarterly follow-up call is due (DSP-FOLLOWUP)."),
    (FollowUpRecorded, "A follow-up call was made (DSP-FOLLOWUP)."),
    (IntakeFineNoted, "A fine intake levied, noted so it can be disputed here."),
    (PartFineNoted, "A fine the old-parts service levied, noted so it can be disputed here."),
    (FineDisputed, "A fine was disputed."),
    (FineReversed, "A fine was reversed by a new event pointing at it."),
    (IntakeEscalationNoted, "An escalation intake raised, followed up here."),
    (EscalationAcknowledged, "An escalation was acknowledged."),
    (EscalationForwarded, "An unacknowledged escalation went one level up."),
):
    register(EventSpec(_payload.wire_type, 1, _payload, "dispatch", _summary))
