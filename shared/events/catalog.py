"""Registry of domain-event payloads by (type, version), with upcasting.

A consumer never reads `Envelope.data` as a loose dict: it asks `payload(envelope)` for the newest
struct of that type, and older versions are upcast on the way in, so a v2 can live beside v1.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import msgspec

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
        return msgspec.convert(data, self.spec_for(envelope.type, version).payload, strict=False)


CATALOG = Catalog()
register = CATALOG.register
spec_for = CATALOG.spec_for
all_specs = CATALOG.all_specs
payload = CATALOG.payload


register(EventSpec("ComplaintReceived", 1, ComplaintReceived, "intake", "A complaint was registered."))


class SurveyRecorded(msgspec.Struct, frozen=True):
    """intake: an IVR satisfaction survey recorded against its complaint."""

    survey_call_id: str
    rating: int
    satisfied: bool
    completed_at: dt.datetime


register(EventSpec("SurveyRecorded", 1, SurveyRecorded, "intake", "A satisfaction survey was recorded."))
