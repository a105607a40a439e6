"""Wire payloads of events the dispatch service publishes (`aftersales.dispatch.<Type>`).

Registered into the shared catalog on import (catalog.py imports this module at its end).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from shared.events.catalog import EventSpec, register


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


class PartsReplaced(msgspec.Struct, frozen=True):
    """dispatch → parts: the parts a signed service form replaced (PRT-RECORD)."""

    complaint_no: str
    dispatch_id: str
    parts: list[ReplacedPart]
    completed_at: dt.datetime


register(EventSpec("PartsReplaced", 1, PartsReplaced, "dispatch", "Parts replaced on a signed service form."))


# ------------------------------------------------------------------------------------- the roster

ROSTER_CORRELATION = "roster"
"""The correlation id of every roster event (they are about no complaint)."""


class EngineerRegistered(msgspec.Struct, frozen=True):
    engineer_id: str
    name: str
    region: str
    skills: list[str]
    load: int
    available: bool
    actor: str


class EngineerUpdated(msgspec.Struct, frozen=True):
    engineer_id: str
    changes: dict[str, Any]
    actor: str


class EngineerLoadChanged(msgspec.Struct, frozen=True):
    engineer_id: str
    delta: int
    complaint_no: str


class RosterOpened(msgspec.Struct, frozen=True):
    pass


# --------------------------------------------------------------------------------- the dispatch case


class DispatchCaseOpened(msgspec.Struct, frozen=True):
    """A complaint intake registered, as dispatch keeps it (its receipt time starts DSP-ARRIVE)."""

    complaint_no: str
    received_at: dt.datetime
    kind: str
    agent_id: str | None
    customer: dict[str, Any]
    equipment: dict[str, Any]
    site: dict[str, Any]


class OnSiteServiceNeeded(msgspec.Struct, frozen=True):
    classified_by: str
    cause: str
    level: int
    in_warranty: bool | None
    equipment: dict[str, Any]
    site: dict[str, Any]


class PayerNoted(msgspec.Struct, frozen=True):
    applies: str | None
    payer: str | None
    fee_consent_required: bool | None


class FeeConsentDecided(msgspec.Struct, frozen=True):
    """DSP-FEE-CONSENT; rule, policy version and inputs are in the envelope."""

    outputs: dict[str, Any]


class FeeConsentRecorded(msgspec.Struct, frozen=True):
    actor: str
    accepted: bool
    fee_fen: int
    plan: str


class DispatchApproved(msgspec.Struct, frozen=True):
    actor: str
    reason: str


class EngineerAssigned(msgspec.Struct, frozen=True):
    """DSP-ASSIGN (rule, policy version and the roster it chose from are in the envelope)."""

    outputs: dict[str, Any]
    engineer_id: str | None


class EngineerDispatched(msgspec.Struct, frozen=True):
    engineer_id: str
    dispatch_order_no: str
    region: str | None
    dispatched_at: dt.datetime


class EngineerWithdrawn(msgspec.Struct, frozen=True):
    engineer_id: str
    actor: str
    reason: str


class EngineerArrived(msgspec.Struct, frozen=True):
    engineer_id: str
    arrived_at: dt.datetime


class ServiceFormSigned(msgspec.Struct, frozen=True):
    """DSP-FORM: the technical service form (技术服务单) as signed."""

    outputs: dict[str, Any]
    engineer_id: str
    dispatch_order_no: str
    form: dict[str, Any]


class RepairOutcomeRecorded(msgspec.Struct, frozen=True):
    """dispatch → intake: a repair attempt's outcome, for WAR-EXTEND-60D and WAR-LEMON."""

    complaint_no: str
    serial: str | None
    engineer_id: str
    problem: str
    outcome: str
    stops_work: bool
    completed_at: dt.datetime


class ReturnApproved(msgspec.Struct, frozen=True):
    actor: str
    approved_at: dt.datetime


class EngineerReturned(msgspec.Struct, frozen=True):
    """DSP-RETURN-APPROVAL: `outputs.left_without_approval`."""

    outputs: dict[str, Any]
    engineer_id: str
    returned_at: dt.datetime


class ReportFiled(msgspec.Struct, frozen=True):
    actor: str
    reported_at: dt.datetime
    summary: str
    expense_claim_fen: int
    payments_collected_fen: int
    returned_materials: list[str]


class AuditCompleted(msgspec.Struct, frozen=True):
    actor: str
    audited_at: dt.datetime
    quality_confirmed: bool
    rating_confirmed: bool
    cost_approved_fen: int
    notes: str


class AuditStarted(msgspec.Struct, frozen=True):
    """DSP-AUDIT-5WD: who audits (and so answers for FIN-AUDIT-LATE)."""

    actor: str
    auditor: str


class ServiceFaultDecided(msgspec.Struct, frozen=True):
    """DSP-SERVICE-FAULT: `outputs.service_at_fault`, `outputs.ground`; rule, policy and inputs in the envelope."""

    outputs: dict[str, Any]
    actor: str
    finding: str


class FollowUpScheduled(msgspec.Struct, frozen=True):
    """DSP-FOLLOWUP: `outputs.due_at`, `outputs.quarter`."""

    outputs: dict[str, Any]


class FollowUpDue(msgspec.Struct, frozen=True):
    quarter: int
    customer: dict[str, Any]


class FollowUpRecorded(msgspec.Struct, frozen=True):
    actor: str
    quarter: int
    notes: str


# ------------------------------------------------------------------------- fines and escalations


class IntakeFineNoted(msgspec.Struct, frozen=True):
    fine_id: str
    fine_rule: str
    person: str | None
    role: str
    department: str
    amount_fen: int


class FineDisputed(msgspec.Struct, frozen=True):
    fine_id: str
    actor: str
    reason: str


class FineReversed(msgspec.Struct, frozen=True):
    """A fine reversed by a new event that points at it (`fine_id`); it nets the fine to zero."""

    fine_id: str
    actor: str
    reason: str
    fine_rule: str
    person: str | None
    role: str
    department: str
    amount_fen: int


class IntakeEscalationNoted(msgspec.Struct, frozen=True):
    escalation_id: str
    trigger_rule: str
    to: str
    ack_due_at: str | None


class EscalationAcknowledged(msgspec.Struct, frozen=True):
    escalation_id: str
    actor: str
    note: str


class EscalationForwarded(msgspec.Struct, frozen=True):
    escalation_id: str
    forwarded_to: str
    forwarded_as: str


for _type, _payload, _summary in (
    ("RosterOpened", RosterOpened, "The engineer roster was opened."),
    ("EngineerRegistered", EngineerRegistered, "An engineer joined the roster (DSP-ASSIGN)."),
    ("EngineerUpdated", EngineerUpdated, "An engineer's region, skills, load or availability changed."),
    ("EngineerLoadChanged", EngineerLoadChanged, "An engineer took on or finished a dispatch."),
    ("DispatchCaseOpened", DispatchCaseOpened, "Dispatch opened its case for a registered complaint."),
    ("OnSiteServiceNeeded", OnSiteServiceNeeded, "The fault needs on-site service: dispatch begins."),
    ("PayerNoted", PayerNoted, "Who pays, as intake decided it."),
    ("FeeConsentDecided", FeeConsentDecided, "Whether dispatch may go ahead (DSP-FEE-CONSENT)."),
    ("FeeConsentRecorded", FeeConsentRecorded, "The customer accepted or refused the fee (DSP-FEE-CONSENT)."),
    ("DispatchApproved", DispatchApproved, "The deputy GM approved service after a refused fee (DSP-FEE-CONSENT)."),
    ("EngineerAssigned", EngineerAssigned, "An engineer was chosen, or none was available (DSP-ASSIGN)."),
    ("EngineerDispatched", EngineerDispatched, "The engineer was dispatched; DSP-ARRIVE runs from receipt."),
    ("EngineerWithdrawn", EngineerWithdrawn, "Headquarters took the engineer off the case (DSP-ASSIGN)."),
    ("EngineerArrived", EngineerArrived, "The engineer arrived on site (DSP-ARRIVE)."),
    ("ServiceFormSigned", ServiceFormSigned, "The technical service form was signed (DSP-FORM)."),
    ("RepairOutcomeRecorded", RepairOutcomeRecorded, "A repair's outcome (for WAR-EXTEND-60D, WAR-LEMON)."),
    ("ReturnApproved", ReturnApproved, "The engineer may leave the site (DSP-RETURN-APPROVAL)."),
    ("EngineerReturned", EngineerReturned, "The engineer left the site (DSP-RETURN-APPROVAL)."),
    ("ReportFiled", ReportFiled, "The engineer's written report (DSP-REPORT-3WD)."),
    ("AuditStarted", AuditStarted, "Technical quality took up the audit; names the auditor (DSP-AUDIT-5WD)."),
    ("AuditCompleted", AuditCompleted, "Quality, rating and costs confirmed (DSP-AUDIT-5WD)."),
    ("ServiceFaultDecided", ServiceFaultDecided, "tq's finding: service itself at fault? (DSP-SERVICE-FAULT)"),
    ("FollowUpScheduled", FollowUpScheduled, "A quarterly follow-up call was scheduled (DSP-FOLLOWUP)."),
    ("FollowUpDue", FollowUpDue, "A quarterly follow-up call is due (DSP-FOLLOWUP)."),
    ("FollowUpRecorded", FollowUpRecorded, "A follow-up call was made (DSP-FOLLOWUP)."),
    ("IntakeFineNoted", IntakeFineNoted, "A fine intake levied, noted so it can be disputed here."),
    ("PartFineNoted", IntakeFineNoted, "A fine the old-parts service levied, noted so it can be disputed here."),
    ("FineDisputed", FineDisputed, "A fine was disputed."),
    ("FineReversed", FineReversed, "A fine was reversed by a new event pointing at it."),
    ("IntakeEscalationNoted", IntakeEscalationNoted, "An escalation intake raised, followed up here."),
    ("EscalationAcknowledged", EscalationAcknowledged, "An escalation was acknowledged."),
    ("EscalationForwarded", EscalationForwarded, "An unacknowledged escalation went one level up."),
):
    register(EventSpec(_type, 1, _payload, "dispatch", _summary))
