"""Intake's events (docs/contract.md §3): the complaint, the unit's warranty history, void register
numbers and the working calendar. Each Struct is the domain event and the wire payload in one
(shared/events/base.py); deadlines, fines and escalations are in `common_events`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from shared.events.base import CreatedEvent, DecisionOutputs, DomainEvent
from shared.events.values import CustomerInfo, EquipmentInfo, FieldValue, SiteInfo


class ComplaintReceived(CreatedEvent, frozen=True, kw_only=True):
    """A complaint registered (INT-REGISTER), one per telephony call (INT-DEDUP), with the decisions
    taken at receipt (relay/reply deadlines, first response, warranty, expiry notice), each
    `{rule, policy_version, inputs, outputs}`."""

    complaint_no: str
    call_id: str
    received_at: dt.datetime
    kind: str
    agent_id: str | None
    customer: CustomerInfo
    equipment: EquipmentInfo
    site: SiteInfo
    description: str | None
    record_incomplete: bool
    missing_fields: list[str]
    decisions: list[dict[str, Any]] = msgspec.field(default_factory=list)


class RegisterNumberVoided(CreatedEvent, frozen=True, kw_only=True):
    """A register number no complaint carries, void with its reason (INT-REGISTER)."""

    complaint_no: str
    reason: str
    voided_at: dt.datetime


class ComplaintRelayed(DomainEvent, frozen=True, kw_only=True):
    """INT-RELAY-4WH: relayed to the technical-quality department (技质部)."""

    actor: str
    relayed_at: dt.datetime


class RecordCompleted(DomainEvent, frozen=True, kw_only=True):
    """INT-REQUIRED: the receiver completed the record (`fields` by dotted name)."""

    actor: str
    fields: dict[str, FieldValue]
    missing_fields: list[str]


class FaultClassified(DomainEvent, frozen=True, kw_only=True):
    """INT-CLASSIFY: cause, severity level, whether on-site service is needed."""

    actor: str
    cause: str
    level: int
    on_site: bool
    equipment: EquipmentInfo
    site: SiteInfo
    in_warranty: bool | None
    warranty_until: str | None


class FirstContactRecorded(DomainEvent, frozen=True, kw_only=True):
    """INT-LEVELS first response (docs/rules.md §9): who contacted the customer, when, how, what was agreed."""

    actor: str
    role: str
    channel: str
    agreed: str
    visit_at: dt.datetime | None
    contacted_at: dt.datetime


class ConsultationAnswered(DomainEvent, frozen=True, kw_only=True):
    """INT-REPLY-8WH: a consultation answered."""

    actor: str
    answer: str


class SolutionDecided(DomainEvent, frozen=True, kw_only=True):
    """INT-REPLY-8WH: a fault's solution decided."""

    actor: str
    solution: str
    expected_repair_hours: float


class LoanerDecided(DecisionOutputs, frozen=True, kw_only=True):
    """WAR-LOANER: a free loaner unit while a long repair runs."""


class WarrantyDecided(DecisionOutputs, frozen=True, kw_only=True):
    """WAR-PERIOD (re)decided: on a completed acceptance date or an extension."""


class PaymentDecided(DecisionOutputs, frozen=True, kw_only=True):
    """WAR-FREE / WAR-MISUSE / WAR-OUT: who pays; a customer-paid service needs fee consent."""


class ExpiryNoticeScheduled(DecisionOutputs, frozen=True, kw_only=True):
    """WAR-EXPIRY-NOTICE scheduled (`outputs.notice_at`)."""


class WarrantyExpiryNoticeDue(DomainEvent, frozen=True, kw_only=True):
    """WAR-EXPIRY-NOTICE: write to the customer about renewal, 10 days before expiry."""

    until: str
    customer: CustomerInfo
    serial: str | None


class RepairRecorded(DomainEvent, frozen=True, kw_only=True):
    """A repair attempt's outcome."""

    actor: str
    problem: str
    outcome: str
    stops_work: bool


class WarrantyExtended(DecisionOutputs, frozen=True, kw_only=True):
    """WAR-EXTEND-60D."""


class ReplacementDecided(DecisionOutputs, frozen=True, kw_only=True):
    """WAR-LEMON: replaced free by a new unit of the same brand and model."""


class ComplaintClosed(DomainEvent, frozen=True, kw_only=True):
    actor: str
    outcome: str


class SurveyRecorded(DomainEvent, frozen=True, kw_only=True):
    """Satisfaction (docs/contract.md §1): a rating of 4 or 5 counts as satisfied."""

    survey_call_id: str
    rating: int
    satisfied: bool
    completed_at: dt.datetime


class EquipmentRegistered(CreatedEvent, frozen=True, kw_only=True):
    """A unit's warranty history opened."""

    serial: str


class EquipmentRepairNoted(DomainEvent, frozen=True, kw_only=True):
    problem: str
    outcome: str


class EquipmentWarrantyExtended(DomainEvent, frozen=True, kw_only=True):
    days: int


class CalendarPublished(CreatedEvent, frozen=True, kw_only=True):
    """A year's working calendar as published by ops (docs/rules.md §9): `calendar_version` is content-addressed."""

    year: int
    holidays: list[str]
    workdays: list[str]
    calendar_version: str
    digest: str
    notice: str
    published_by: str
    role: str


class CalendarRepublished(DomainEvent, frozen=True, kw_only=True):
    """A correction of a published year: on the wire, one more CalendarPublished."""

    wire_type = "CalendarPublished"

    year: int
    holidays: list[str]
    workdays: list[str]
    calendar_version: str
    digest: str
    notice: str
    published_by: str
    role: str


class PersonalDataErased(CreatedEvent, frozen=True, kw_only=True):
    """PII-ERASE (docs/rules.md §11): a customer's keys destroyed on their deletion request; nothing
    in it leads back to the customer (neither the phone nor its keyed index)."""

    key_ids: list[str]
    erased_by: str
    role: str
    reason: str
