"""Registry of domain-event payloads by (type, version), with upcasting.

A consumer never reads `Envelope.data` as a loose dict: it asks `payload(envelope)` for the newest
struct of that type, and older versions are upcast on the way in, so a v2 can live beside v1.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import msgspec

from shared.events.base import DomainEvent
from shared.events.envelope import Envelope


class CustomerInfo(msgspec.Struct, frozen=True):
    name: str | None = None
    phone: str | None = None


class EquipmentInfo(msgspec.Struct, frozen=True):
    serial: str | None = None
    model: str | None = None
    acceptance_date: dt.date | None = None


class SiteInfo(msgspec.Struct, frozen=True):
    region: str | None = None
    distance_km: float | None = None
    address: str | None = None
    lat: float | None = None
    lon: float | None = None


class ComplaintReceived(msgspec.Struct, frozen=True):
    """intake: a complaint registered (INT-REGISTER), one per telephony call (INT-DEDUP)."""

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
    decisions: list[dict[str, Any]] = []
    """Decisions taken at receipt (relay/reply deadlines, first response, warranty, expiry notice),
    each `{rule, policy_version, inputs, outputs}`."""


class RegisterNumberVoided(msgspec.Struct, frozen=True):
    """intake: a register number no complaint carries, void with its reason (INT-REGISTER)."""

    complaint_no: str
    reason: str
    voided_at: dt.datetime


class EventSpec(msgspec.Struct, frozen=True):
    event_type: str
    version: int
    payload: type[msgspec.Struct]
    service: str
    summary: str


class UnknownEventType(LookupError):
    pass


Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class Catalog:
    """Event types by (type, version), and the upcasters that lift version n to n + 1."""

    def __init__(self) -> None:
        self._specs: dict[tuple[str, int], EventSpec] = {}
        self._latest: dict[str, int] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    def register(self, spec: EventSpec) -> EventSpec:
        self._specs[(spec.event_type, spec.version)] = spec
        self._latest[spec.event_type] = max(spec.version, self._latest.get(spec.event_type, 0))
        return spec

    def upcaster(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Register a function turning the data of `event_type` v`from_version` into the next version."""

        def decorate(fn: Upcaster) -> Upcaster:
            self._upcasters[(event_type, from_version)] = fn
            return fn

        return decorate

    def spec_for(self, event_type: str, version: int) -> EventSpec:
        try:
            return self._specs[(event_type, version)]
        except KeyError:
            raise UnknownEventType(f"no event {event_type} v{version} in the catalog") from None

    def all_specs(self) -> list[EventSpec]:
        return sorted(self._specs.values(), key=lambda s: (s.service, s.event_type, s.version))

    def upcast(self, event_type: str, version: int, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        latest = self._latest.get(event_type)
        if latest is None or (event_type, version) not in self._specs:
            raise UnknownEventType(f"no event {event_type} v{version} in the catalog")
        while version < latest:
            try:
                data = self._upcasters[(event_type, version)](data)
            except KeyError:
                raise UnknownEventType(f"no upcaster for {event_type} v{version}") from None
            version += 1
        return version, data

    def payload(self, envelope: Envelope) -> msgspec.Struct:
        """The envelope's data as the newest payload struct of its type (upcast if older)."""
        version, data = self.upcast(envelope.type, envelope.version, envelope.data)
        cls = self.spec_for(envelope.type, version).payload
        if issubclass(cls, DomainEvent):  # the domain event itself: its metadata is in the envelope
            data = {**data, **envelope_fields(envelope)}
        return msgspec.convert(data, cls, strict=False)


def envelope_fields(envelope: Envelope) -> dict[str, Any]:
    """What a `DomainEvent` keeps outside its wire `data`, as the envelope carries it."""
    fields: dict[str, Any] = {
        "originator_id": envelope.aggregate_id,
        "originator_version": envelope.aggregate_version,
        "timestamp": envelope.occurred_at,
        "correlation_id": envelope.correlation_id,
        "causation_id": envelope.causation_id,
    }
    for name in ("rule", "policy_version", "inputs"):
        value = getattr(envelope, name)
        if value is not None:
            fields[name] = value
    return fields


CATALOG = Catalog()
register = CATALOG.register
spec_for = CATALOG.spec_for
all_specs = CATALOG.all_specs
payload = CATALOG.payload


register(EventSpec("ComplaintReceived", 1, ComplaintReceived, "intake", "A complaint was registered."))
register(EventSpec("RegisterNumberVoided", 1, RegisterNumberVoided, "intake",
                   "A register number that no complaint carries, void with its reason (INT-REGISTER)."))  # fmt: skip


class SurveyRecorded(msgspec.Struct, frozen=True):
    """intake: an IVR satisfaction survey recorded against its complaint."""

    survey_call_id: str
    rating: int
    satisfied: bool
    completed_at: dt.datetime


class DecisionOutputs(msgspec.Struct, frozen=True):
    """A decision event's data: what the rule decided. Its rule id, policy version and inputs are
    in the envelope (`rule`, `policy_version`, `inputs`)."""

    outputs: dict[str, Any]


class DeadlineMet(msgspec.Struct, frozen=True):
    deadline: str
    met_at: dt.datetime
    late: bool


class DeadlineBreached(msgspec.Struct, frozen=True):
    deadline: str
    due_at: str
    breached_at: dt.datetime


class FineLevied(msgspec.Struct, frozen=True):
    outputs: dict[str, Any]
    fine_id: str
    person: str | None
    role: str
    department: str
    amount_fen: int
    reason: str


class FineAttributed(msgspec.Struct, frozen=True):
    """An unattributed fine charged to a person by the branch manager (docs/rules.md §9)."""

    fine_id: str
    fine_rule: str
    person: str
    role: str
    department: str
    actor: str
    reason: str


class FirstContactRecorded(msgspec.Struct, frozen=True):
    """INT-LEVELS first response (docs/rules.md §9): who contacted the customer, when, how, what was agreed."""

    actor: str
    role: str
    channel: str
    agreed: str
    visit_at: dt.datetime | None
    contacted_at: dt.datetime


class EscalationRaised(msgspec.Struct, frozen=True):
    escalation_id: str
    trigger_rule: str
    to: str
    reason: str


class ComplaintRelayed(msgspec.Struct, frozen=True):
    actor: str
    relayed_at: dt.datetime


class RecordCompleted(msgspec.Struct, frozen=True):
    actor: str
    fields: dict[str, Any]
    missing_fields: list[str]


class FaultClassified(msgspec.Struct, frozen=True):
    actor: str
    cause: str
    level: int
    on_site: bool
    equipment: EquipmentInfo
    site: SiteInfo
    in_warranty: bool | None
    warranty_until: str | None


class ConsultationAnswered(msgspec.Struct, frozen=True):
    actor: str
    answer: str


class SolutionDecided(msgspec.Struct, frozen=True):
    actor: str
    solution: str
    expected_repair_hours: float


class WarrantyExpiryNoticeDue(msgspec.Struct, frozen=True):
    until: str
    customer: CustomerInfo
    serial: str | None


class RepairRecorded(msgspec.Struct, frozen=True):
    actor: str
    problem: str
    outcome: str
    stops_work: bool


class ComplaintClosed(msgspec.Struct, frozen=True):
    actor: str
    outcome: str


class EquipmentRegistered(msgspec.Struct, frozen=True):
    serial: str


class EquipmentRepairNoted(msgspec.Struct, frozen=True):
    problem: str
    outcome: str


class EquipmentWarrantyExtended(msgspec.Struct, frozen=True):
    days: int


class CalendarPublished(msgspec.Struct, frozen=True):
    """A year's working calendar as published by ops (docs/rules.md §9): `calendar_version` is content-addressed."""

    year: int
    holidays: list[str]
    workdays: list[str]
    calendar_version: str
    digest: str
    notice: str
    published_by: str
    role: str


class PersonalDataErased(msgspec.Struct, frozen=True):
    """PII-ERASE (docs/rules.md §11): a customer's keys destroyed on their deletion request; nothing
    in it leads back to the customer (neither the phone nor its keyed index)."""

    key_ids: list[str]
    erased_by: str
    role: str
    reason: str


for _type, _payload, _summary in (
    ("SurveyRecorded", SurveyRecorded, "A satisfaction survey was recorded (4–5 = satisfied)."),
    ("DeadlineSet", DecisionOutputs, "A deadline was set (INT-RELAY-4WH, INT-REPLY-8WH, INT-LEVELS, WAR-LOANER)."),
    ("DeadlineMet", DeadlineMet, "A deadline was met."),
    ("DeadlineBreached", DeadlineBreached, "The clock passed an open deadline."),
    ("FineLevied", FineLevied, "A fine was levied on a person (FIN-*)."),
    ("FineAttributed", FineAttributed, "An unattributed fine was charged to a person by the branch manager."),
    ("FirstContactRecorded", FirstContactRecorded, "The first response: a recorded contact with the customer."),
    ("EscalationRaised", EscalationRaised, "A matter was escalated (branch manager, management)."),
    ("ComplaintRelayed", ComplaintRelayed, "Relayed to the technical-quality department."),
    ("RecordCompleted", RecordCompleted, "The receiver completed the record (INT-REQUIRED)."),
    ("FaultClassified", FaultClassified, "Cause, level and on-site need decided (INT-CLASSIFY)."),
    ("ConsultationAnswered", ConsultationAnswered, "A consultation was answered."),
    ("SolutionDecided", SolutionDecided, "A fault's solution was decided."),
    ("LoanerDecided", DecisionOutputs, "A free loaner unit (WAR-LOANER)."),
    ("WarrantyDecided", DecisionOutputs, "Warranty (re)decided (WAR-PERIOD)."),
    ("PaymentDecided", DecisionOutputs, "Who pays (WAR-FREE, WAR-MISUSE, WAR-OUT)."),
    ("ExpiryNoticeScheduled", DecisionOutputs, "A warranty expiry notice was scheduled (WAR-EXPIRY-NOTICE)."),
    ("WarrantyExpiryNoticeDue", WarrantyExpiryNoticeDue, "Notify the customer about renewal (WAR-EXPIRY-NOTICE)."),
    ("RepairRecorded", RepairRecorded, "A repair attempt's outcome."),
    ("WarrantyExtended", DecisionOutputs, "Warranty extended by 60 days (WAR-EXTEND-60D)."),
    ("ReplacementDecided", DecisionOutputs, "Free replacement by a new unit (WAR-LEMON)."),
    ("ComplaintClosed", ComplaintClosed, "The complaint was closed."),
    ("EquipmentRegistered", EquipmentRegistered, "A unit's warranty history was opened."),
    ("EquipmentRepairNoted", EquipmentRepairNoted, "A repair noted in the unit's history."),
    ("EquipmentWarrantyExtended", EquipmentWarrantyExtended, "A unit's warranty extension (WAR-EXTEND-60D)."),
    ("CalendarPublished", CalendarPublished, "A year's working calendar (holidays, 调休) published by ops."),
    ("PersonalDataErased", PersonalDataErased, "A customer's personal data erased by destroying its keys (PII-ERASE)."),
):
    register(EventSpec(_type, 1, _payload, "intake", _summary))

# Each service's own wire payloads register themselves into CATALOG on import.
from shared.events import dispatch_events, parts_events  # noqa: E402, F401
