"""Every intake event type, each field set, through the real store, relay and NATS into what a consumer
reads (`payload`) and into the read model: no field lost (one definition per event, issue 12)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import msgspec
import pytest
from msgspec import inspect as mi

from shared.events.base import META_FIELDS, DomainEvent
from shared.events.catalog import all_specs, payload
from shared.events.envelope import decode_envelope
from shared.runtime.settings import Settings
from shared.runtime.store import recorder_of
from shared.workcal import YearSchedule
from tests.integration.conftest import System
from tests.support import wait_until

pytestmark = pytest.mark.integration
AT = dt.datetime(2026, 11, 23, 9, 15, tzinfo=dt.timezone(dt.timedelta(hours=8)))
COMPLAINT_NO = "TS-2026-99000001"
DUE = "2026-11-23T13:00:00+08:00"
OUTPUTS: dict[str, dict[str, Any]] = {  # decision outputs as the rules give them (the read model reads some)
    "DeadlineSet": {"due_at": DUE},
    "WarrantyDecided": {"in_warranty": True, "until": "2027-06-01"},
    "ExpiryNoticeScheduled": {"notice_at": "2027-05-22T09:00:00+08:00"},
    "WarrantyExtended": {"extend": True, "days": 60},
}
OWN_AGGREGATE = {"RegisterNumberVoided", "EquipmentRegistered", "EquipmentRepairNoted", "EquipmentWarrantyExtended",
                 "CalendarPublished"}  # fmt: skip
CALENDAR = YearSchedule.make(2031, [dt.date(2031, 1, 1)], [], "published")
RULES = {"DeadlineSet": "INT-RELAY-4WH", "WarrantyDecided": "WAR-PERIOD", "ExpiryNoticeScheduled": "WAR-EXPIRY-NOTICE"}


def sample(info: mi.Type, name: str) -> Any:
    """A value of every field's type, none of them a default (None, 0, empty)."""
    match info:
        case mi.StrType():
            return f"{name}-值"
        case mi.BoolType():
            return True
        case mi.IntType():
            return 7
        case mi.FloatType():
            return 42.5
        case mi.DateTimeType():
            return AT
        case mi.DateType():
            return dt.date(2025, 6, 1)
        case mi.UUIDType():
            return uuid.uuid5(uuid.NAMESPACE_URL, name)
        case mi.ListType(item_type=item):
            return [sample(item, name)]
        case mi.DictType():
            return {"key": f"{name}-值"}
        case mi.UnionType(types=types):
            return sample(next(t for t in types if not isinstance(t, mi.NoneType)), name)
        case mi.StructType(cls=cls):
            return cls(**{f.name: sample(f.type, f.name) for f in mi.type_info(cls).fields})  # type: ignore[attr-defined]
    raise AssertionError(f"no sample for {info!r} ({name})")


def full_event(cls: type[DomainEvent], aggregate_id: uuid.UUID, version: int) -> DomainEvent:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    fields = {f.name: sample(f.type, f.name) for f in info.fields if f.name not in META_FIELDS}
    wire = cls.wire_type
    correlation_id = f"TS-2026-99{len(wire):06d}" if wire in OWN_AGGREGATE else COMPLAINT_NO
    fields.update(originator_id=aggregate_id, originator_version=version, timestamp=AT, correlation_id=correlation_id)
    if wire == "ComplaintReceived":
        fields.update(complaint_no=COMPLAINT_NO, originator_topic="services.intake.domain:Complaint",
                      decisions=[{"rule": "INT-REPLY-8WH", "policy_version": "intake-2026.1",
                                  "inputs": {"received_at": AT.isoformat()}, "outputs": {"due_at": DUE}}])  # fmt: skip
    if "outputs" in fields:
        fields["outputs"] = OUTPUTS.get(wire, {"decided": True, "days": 60})
        fields["rule"] = RULES.get(wire, fields["rule"])
    if wire == "RegisterNumberVoided":
        fields["complaint_no"] = correlation_id
    if wire == "CalendarPublished":
        fields.update(year=2031, holidays=["2031-01-01"], workdays=[], calendar_version=CALENDAR.version,
                      digest=CALENDAR.digest, originator_topic="services.intake.domain:CalendarYear")  # fmt: skip
    if wire == "RecordCompleted":
        fields["fields"] = {"customer.name": "丙", "site.distance_km": 12.5}
    if wire == "DeadlineMet" or wire == "DeadlineBreached":
        fields["deadline"] = "INT-RELAY-4WH"
    return cls(**fields)


def intake_types() -> list[type[DomainEvent]]:
    types = [s.payload for s in all_specs() if s.service == "intake"]
    events = [t for t in types if issubclass(t, DomainEvent)]
    assert events == types  # every intake payload is its domain event
    return sorted(events, key=lambda t: (t.wire_type != "ComplaintReceived", t.wire_type))


async def test_every_intake_event_type_arrives_whole_at_consumers_and_in_the_read_model(
    system: System, settings: Settings
) -> None:
    app = system.intake.app
    assert app is not None
    complaint_id = uuid.uuid5(uuid.NAMESPACE_URL, COMPLAINT_NO)
    types = intake_types()
    complaint_types = [t for t in types if t.wire_type not in OWN_AGGREGATE]
    events = [full_event(cls, complaint_id, n) for n, cls in enumerate(complaint_types, start=1)]
    events += [
        full_event(cls, uuid.uuid5(complaint_id, cls.wire_type), 1) for cls in types if cls not in complaint_types
    ]
    assert len(events) >= 26
    sub = await system.bus.js.subscribe(settings.names.events_of("intake"), ordered_consumer=True)
    await asyncio.to_thread(app.save, *events)
    system.intake.ports.relay_wakeup.set()

    received: dict[tuple[uuid.UUID, int], msgspec.Struct] = {}
    while len(received) < len(events):
        msg = await sub.next_msg(timeout=20)
        envelope = decode_envelope(msg.data)
        received[(envelope.aggregate_id, envelope.aggregate_version)] = payload(envelope)
    for event in events:
        arrived = received[(event.originator_id, event.originator_version)]
        assert type(arrived) is type(event)
        expected = msgspec.structs.replace(event, originator_topic="") if hasattr(event, "originator_topic") else event
        assert arrived == expected, event.wire_type  # every field, nested ones too

    stored = recorder_of(app).select_events(complaint_id)
    assert [app.mapper.to_domain_event(s) for s in stored] == events[: len(complaint_types)]  # kept whole

    async def folded_all() -> bool:
        found = system.store.complaint(COMPLAINT_NO)
        return bool(found and found.get("surveys"))

    await wait_until(folded_all, what="the read model folds the complaint's last event")
    folded = system.store.complaint(COMPLAINT_NO)
    assert folded is not None
    assert folded["customer"]["name"] == "丙"  # RecordCompleted after ComplaintReceived
    assert folded["site"]["distance_km"] == 12.5
    assert folded["warranty"]["until"] == "2027-06-01"
    assert folded["warranty"]["expiry_notice_at"] == "2027-05-22T09:00:00+08:00"
    assert folded["warranty"]["extensions"][0]["days"] == 60
    assert folded["fines"][0]["amount_fen"] == 7
    assert folded["escalations"][0]["reason"] == "reason-值"
    assert folded["first_contact"]["channel"] == "channel-值"
    assert folded["surveys"][0]["rating"] == 7
    relay = next(d for d in folded["deadlines"] if d["rule"] == "INT-RELAY-4WH")
    assert (relay["due_at"], relay["met_at"], relay["breached"]) == (DUE, AT.isoformat(), True)
