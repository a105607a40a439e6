"""Registry of domain-event payloads by (type, version), with upcasting.

A consumer never reads `Envelope.data` as a loose dict: it asks `payload(envelope)` for the newest
struct of that type, and older versions are upcast on the way in, so a v2 can live beside v1.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from shared.events import parts_events as pe
from shared.events.base import ENVELOPE_FIELDS, META_FIELDS, DecisionOutputs, DomainEvent
from shared.events.common_events import (
    DeadlineBreached,
    DeadlineMet,
    DeadlineSet,
    EscalationRaised,
    FineAttributed,
    FineLevied,
)
from shared.events.envelope import Envelope
from shared.events.intake_events import (
    CalendarPublished,
    ComplaintClosed,
    ComplaintReceived,
    ComplaintRelayed,
    ConsultationAnswered,
    EquipmentRegistered,
    EquipmentRepairNoted,
    EquipmentWarrantyExtended,
    ExpiryNoticeScheduled,
    FaultClassified,
    FirstContactRecorded,
    LoanerDecided,
    PaymentDecided,
    PersonalDataErased,
    RecordCompleted,
    RegisterNumberVoided,
    RepairRecorded,
    ReplacementDecided,
    SolutionDecided,
    SurveyRecorded,
    WarrantyDecided,
    WarrantyExpiryNoticeDue,
    WarrantyExtended,
)
from shared.events.values import CustomerInfo, EquipmentInfo, SiteInfo

__all__ = [  # the payloads by the names consumers use (one definition each: intake_events, common_events)
    "CalendarPublished", "ComplaintClosed", "ComplaintReceived", "ComplaintRelayed", "ConsultationAnswered",
    "CustomerInfo", "DeadlineBreached", "DeadlineMet", "DeadlineSet", "DecisionOutputs", "EquipmentInfo",
    "EquipmentRegistered", "EquipmentRepairNoted", "EquipmentWarrantyExtended", "EscalationRaised",
    "ExpiryNoticeScheduled", "FaultClassified", "FineAttributed", "FineLevied", "FirstContactRecorded",
    "LoanerDecided", "PaymentDecided", "PersonalDataErased", "RecordCompleted", "RegisterNumberVoided",
    "RepairRecorded",
    "ReplacementDecided", "SiteInfo", "SolutionDecided", "SurveyRecorded", "WarrantyDecided",
    "WarrantyExpiryNoticeDue", "WarrantyExtended",
]  # fmt: skip


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

    def latest_version(self, event_type: str) -> int | None:
        return self._latest.get(event_type)

    def newest(self, event: DomainEvent) -> DomainEvent:
        """A stored event of an older version of its type as the newest (upcast), else itself: the
        class of each version stays at its topic, and the catalog lifts it like a wire payload."""
        cls = type(event)
        latest = self._latest.get(cls.wire_type)
        if latest is None or latest <= cls.wire_version:
            return event
        fields = {name: getattr(event, name) for name in event.__struct_fields__}
        meta = {name: fields.pop(name) for name in META_FIELDS | ENVELOPE_FIELDS if name in fields}
        _, data = self.upcast(cls.wire_type, cls.wire_version, msgspec.to_builtins(fields))
        newest = self.spec_for(cls.wire_type, latest).payload
        converted = msgspec.convert({**data, **meta}, newest, strict=False)
        if not isinstance(converted, DomainEvent):
            raise UnknownEventType(f"{cls.wire_type} v{latest} is no domain event")
        return converted

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
for _type, _payload, _summary in (
    ("SurveyRecorded", SurveyRecorded, "A satisfaction survey was recorded (4–5 = satisfied)."),
    ("DeadlineSet", DeadlineSet, "A deadline was set (INT-RELAY-4WH, INT-REPLY-8WH, INT-LEVELS, WAR-LOANER)."),
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
    ("LoanerDecided", LoanerDecided, "A free loaner unit (WAR-LOANER)."),
    ("WarrantyDecided", WarrantyDecided, "Warranty (re)decided (WAR-PERIOD)."),
    ("PaymentDecided", PaymentDecided, "Who pays (WAR-FREE, WAR-MISUSE, WAR-OUT)."),
    ("ExpiryNoticeScheduled", ExpiryNoticeScheduled, "A warranty expiry notice was scheduled (WAR-EXPIRY-NOTICE)."),
    ("WarrantyExpiryNoticeDue", WarrantyExpiryNoticeDue, "Notify the customer about renewal (WAR-EXPIRY-NOTICE)."),
    ("RepairRecorded", RepairRecorded, "A repair attempt's outcome."),
    ("WarrantyExtended", WarrantyExtended, "Warranty extended by 60 days (WAR-EXTEND-60D)."),
    ("ReplacementDecided", ReplacementDecided, "Free replacement by a new unit (WAR-LEMON)."),
    ("ComplaintClosed", ComplaintClosed, "The complaint was closed."),
    ("EquipmentRegistered", EquipmentRegistered, "A unit's warranty history was opened."),
    ("EquipmentRepairNoted", EquipmentRepairNoted, "A repair noted in the unit's history."),
    ("EquipmentWarrantyExtended", EquipmentWarrantyExtended, "A unit's warranty extension (WAR-EXTEND-60D)."),
    ("CalendarPublished", CalendarPublished, "A year's working calendar (holidays, 调休) published by ops."),
    ("PersonalDataErased", PersonalDataErased, "A customer's personal data erased by destroying its keys (PII-ERASE)."),
):
    register(EventSpec(_type, 1, _payload, "intake", _summary))

_PARTS: tuple[tuple[str, type[DomainEvent], str], ...] = (
    ("PartRecorded", pe.PartRecorded, "A replaced part recorded, with its hand-in due date (PRT-RECORD, PRT-DUE-7D)."),
    ("PartRecordIncomplete", pe.PartRecordIncomplete, "The record lacks PRT-RECORD fields; a sale waits for them."),
    ("PartRecordCompleted", pe.PartRecordCompleted, "Missing fields of the part's record filled in (PRT-RECORD)."),
    ("PartHandInDelayReported", pe.PartHandInDelayReported, "The engineer gave a reason for a late hand-in."),
    ("PartOverdue", pe.PartOverdue, "The part's delay days grew with the clock (PRT-DUE-7D)."),
    ("PartFineLevied", pe.PartFineLevied, "FIN-PART-LATE: not handed in by the due date, no reason reported."),
    ("PartHandedIn", pe.PartHandedIn, "The engineer handed the part in to the regional warehouse keeper."),
    ("PartRecovered", pe.PartRecovered, "The regional warehouse keeper received the part (回收日期)."),
    ("PartShipped", pe.PartShipped, "The part was shipped to headquarters (返司日期)."),
    ("PartReturned", pe.PartReturned, "Headquarters received the part (返司)."),
    ("DispositionDecided", pe.DispositionDecided, "Return, sell locally, destroy or give away (PRT-DISPOSITION)."),
    ("SaleReported", pe.SaleReported, "A sale report with quotes and the price floor (PRT-PRICE-FLOOR, PRT-REMOTE)."),
    ("SaleVerified", pe.SaleVerified, "The old-parts officer verified a sale report."),
    ("SaleApproved", pe.SaleApproved, "The general manager approved a sale below the floor."),
    ("PartSold", pe.PartSold, "Sold locally: floor, quotes, rule and the proceeds for finance (PRT-PRICE-FLOOR)."),
    ("DisposalRequested", pe.DisposalRequested, "Destruction or give-away requested (PRT-SCRAP-APPROVAL level)."),
    ("DisposalApproved", pe.DisposalApproved, "Destruction or give-away approved at its level (PRT-SCRAP-APPROVAL)."),
    ("DisposalRelevelled", pe.DisposalRelevelled, "Split lots summed past a threshold: higher approval needed."),
    ("PartDisposed", pe.PartDisposed, "The part was destroyed or given away."),
    ("ResponsibilityReviewStarted", pe.ResponsibilityReviewStarted, "Responsibility review and its deadline."),
    ("ResponsibilityEscalated", pe.ResponsibilityEscalated, "Responsibility not settled in time (PRT-RESPONSIBILITY)."),
    ("ResponsibilitySettled", pe.ResponsibilitySettled, "The cost attributed to a department or a supplier."),
    ("SupplierClaimOpened", pe.SupplierClaimOpened, "A claim against the supplier (PRT-SUPPLIER-CLAIM)."),
    ("SupplierClaimSettled", pe.SupplierClaimSettled, "The supplier claim was settled."),
    ("MarketPriceRecorded", pe.MarketPriceRecorded, "A region's scrap-metal market price of a day, per ton."),
    ("MarketPriceRevised", pe.MarketPriceRevised, "A region's market price of a day, revised."),
    ("ScrapLedgerOpened", pe.ScrapLedgerOpened, "Disposal lots of one spec and source begin to be summed."),
    ("ScrapLotAdded", pe.ScrapLotAdded, "A disposal lot counted against the no-splitting rule (PRT-SCRAP-APPROVAL)."),
)  # fmt: skip
for _part_type, _part_event, _part_summary in _PARTS:
    register(EventSpec(_part_type, 1, _part_event, "parts", _part_summary))

# Each service's own wire payloads register themselves into CATALOG on import.
from shared.events import dispatch_events  # noqa: E402, F401
