"""Every parts event type, each field set, through the real store, relay and NATS into what a consumer
reads (`payload`) and into the read model: no field lost (one definition per event, issue 12)."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import msgspec
import pytest
from msgspec import inspect as mi

from services.parts.main import build as build_parts
from shared.events import parts_events as pe
from shared.events.base import META_FIELDS, DomainEvent
from shared.events.catalog import all_specs, payload
from shared.events.envelope import decode_envelope
from shared.events.intake_events import ComplaintReceived
from shared.runtime.settings import Settings
from shared.runtime.store import recorder_of
from tests.integration.conftest import System
from tests.integration.test_every_event_round_trip import AT, COMPLAINT_NO, full_event, sample
from tests.support import wait_until

pytestmark = pytest.mark.integration
OUTPUTS: dict[str, Any] = {  # decision outputs as parts' rules give them (the read model reads these)
    "due_date": "2026-12-08", "days": 15, "floor_fen": 765_000, "below_floor": True, "market_value_fen": 900_000,
    "level": "site", "total_fen": 1_500_000, "approvers": ["branch_manager"], "sale_blocked_by": ["region"],
}  # fmt: skip
OWN_AGGREGATE = {"MarketPriceRecorded", "MarketPriceRevised", "ScrapLedgerOpened", "ScrapLotAdded"}


def parts_event(cls: type[DomainEvent], aggregate_id: uuid.UUID, version: int) -> DomainEvent:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    fields = {f.name: sample(f.type, f.name) for f in info.fields if f.name not in META_FIELDS}
    fields.update(originator_id=aggregate_id, originator_version=version, timestamp=AT, correlation_id=COMPLAINT_NO)
    if "outputs" in fields:
        fields["outputs"] = OUTPUTS
    if cls is pe.PartRecorded:
        fields.update(complaint_no=COMPLAINT_NO, originator_topic="services.parts.domain:OldPart")
    elif cls is pe.MarketPriceRecorded:
        fields.update(originator_topic="services.parts.domain:MarketPrice")
    elif cls is pe.ScrapLedgerOpened:
        fields.update(originator_topic="services.parts.domain:ScrapLedger")
    return cls(**fields)


def parts_types() -> list[type[DomainEvent]]:
    types = [s.payload for s in all_specs() if s.service == "parts"]
    events = [t for t in types if issubclass(t, DomainEvent)]
    assert events == types  # every parts payload is its domain event
    return sorted(events, key=lambda t: (t is not pe.PartRecorded, t.wire_type))


async def test_every_parts_event_type_arrives_whole_at_consumers_and_in_the_read_model(
    system: System, settings: Settings
) -> None:
    parts = build_parts(settings)
    await parts.start()
    try:
        complaint_id = uuid.uuid5(uuid.NAMESPACE_URL, COMPLAINT_NO)
        received = full_event(ComplaintReceived, complaint_id, 1)
        assert system.intake.app is not None
        assert parts.app is not None
        await asyncio.to_thread(system.intake.app.save, received)
        system.intake.ports.relay_wakeup.set()

        part_id = uuid.uuid5(complaint_id, "old-part")
        types = parts_types()
        part_types = [t for t in types if t.wire_type not in OWN_AGGREGATE]
        events = [parts_event(cls, part_id, n) for n, cls in enumerate(part_types, start=1)]
        market_id, ledger_id = uuid.uuid5(complaint_id, "market"), uuid.uuid5(complaint_id, "ledger")
        events += [parts_event(pe.MarketPriceRecorded, market_id, 1), parts_event(pe.MarketPriceRevised, market_id, 2)]
        events += [parts_event(pe.ScrapLedgerOpened, ledger_id, 1), parts_event(pe.ScrapLotAdded, ledger_id, 2)]
        assert {type(e) for e in events} == set(types)
        assert len(events) == 28
        sub = await system.bus.js.subscribe(settings.names.events_of("parts"), ordered_consumer=True)
        await asyncio.to_thread(parts.app.save, *events)
        parts.ports.relay_wakeup.set()

        arrived: dict[tuple[uuid.UUID, int], msgspec.Struct] = {}
        while len(arrived) < len(events):
            msg = await sub.next_msg(timeout=20)
            envelope = decode_envelope(msg.data)
            arrived[(envelope.aggregate_id, envelope.aggregate_version)] = payload(envelope)
        for event in events:
            got = arrived[(event.originator_id, event.originator_version)]
            assert type(got) is type(event)
            expected = (
                msgspec.structs.replace(event, originator_topic="") if hasattr(event, "originator_topic") else event
            )
            assert got == expected, event.wire_type  # every field, nested ones too

        stored = recorder_of(parts.app).select_events(part_id)
        assert [parts.app.mapper.to_domain_event(s) for s in stored] == events[: len(part_types)]  # kept whole

        async def folded_all() -> bool:
            found = system.store.complaint(COMPLAINT_NO)
            return bool(found and {h["type"] for h in found["history"]} >= {t.wire_type for t in part_types})

        await wait_until(folded_all, what="the read model folds every event of the old part")
        folded = system.store.complaint(COMPLAINT_NO)
        assert folded is not None
        (part,) = folded["parts"]
        assert (part["part_id"], part["material_code"], part["due_date"]) == (
            "part_id-值",
            "material_code-值",
            "2026-12-08",
        )
        assert part["sale"]["quotes"] == [{"buyer": "buyer-值", "contact": "contact-值", "price_fen": 7}]
        assert part["sale_blocked_by"] == ["region"]
    finally:
        await parts.stop()
