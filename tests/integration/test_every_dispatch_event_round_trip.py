"""Every dispatch event type, each field set, through dispatch's real store, relay and NATS into what a
consumer reads (`payload`) and into the read model: no field lost (one definition per event, issue 12).
The shared deadline, fine and escalation events are covered by the intake round trip."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import msgspec
import pytest
from msgspec import inspect as mi

from services.dispatch.domain import ROSTER_ID, case_id_for
from services.dispatch.main import build as build_dispatch
from shared.events.base import META_FIELDS, DomainEvent
from shared.events.catalog import all_specs, payload
from shared.events.common_events import EscalationRaised
from shared.events.dispatch_events import ROSTER_CORRELATION
from shared.events.envelope import decode_envelope
from shared.runtime.settings import Settings
from tests.integration.conftest import System
from tests.integration.test_every_event_round_trip import AT, sample
from tests.support import call, wait_until

pytestmark = pytest.mark.integration
ROSTER_TYPES = {"RosterOpened", "EngineerRegistered", "EngineerUpdated", "EngineerLoadChanged"}
OUTPUTS: dict[str, dict[str, Any]] = {  # decision outputs as the rules give them (the read model reads some)
    "FeeConsentDecided": {"consent_required": True, "may_dispatch": True, "needs_approval_by": None},
    "EngineerAssigned": {"engineer_id": "engineer_id-值", "same_region": True},
    "ServiceFormSigned": {"valid": True, "parts_total_fen": 7},
    "EngineerReturned": {"left_without_approval": True},
    "ServiceFaultDecided": {"service_at_fault": True, "ground": "attitude", "valid": True},
    "FollowUpScheduled": {"quarter": 7, "due_at": "2027-02-23T09:00:00+08:00"},
}
ACK_DUE = "2026-11-24T09:15:00+08:00"
TOPICS = {"DispatchCaseOpened": "services.dispatch.case:Case", "RosterOpened": "services.dispatch.roster:Roster"}


def full_event(cls: type[DomainEvent], complaint_no: str, version: int) -> DomainEvent:
    info = mi.type_info(cls)
    assert isinstance(info, mi.StructType)
    fields = {f.name: sample(f.type, f.name) for f in info.fields if f.name not in META_FIELDS}
    wire = cls.wire_type
    roster = wire in ROSTER_TYPES
    fields.update(originator_id=ROSTER_ID if roster else case_id_for(complaint_no), originator_version=version,
                  timestamp=AT, correlation_id=ROSTER_CORRELATION if roster else complaint_no)  # fmt: skip
    if wire in TOPICS:
        fields["originator_topic"] = TOPICS[wire]
    if "complaint_no" in fields and not roster:
        fields["complaint_no"] = complaint_no
    if "outputs" in fields:
        fields["outputs"] = OUTPUTS.get(wire, {"decided": True, "due_at": "2026-11-25T09:15:00+08:00"})
    if wire == "PartsReplaced":  # no parts service here; a part of its own (the intake repair is real)
        fields["parts"] = [msgspec.structs.replace(fields["parts"][0], completed_on=dt.date(2026, 11, 23))]
    return cls(**fields)


def dispatch_types() -> list[type[DomainEvent]]:
    types = [s.payload for s in all_specs() if s.service == "dispatch"]
    events = [t for t in types if issubclass(t, DomainEvent)]
    assert events == types  # every dispatch payload is its domain event
    first = ["RosterOpened", "EngineerRegistered", "EngineerUpdated", "DispatchCaseOpened"]
    last = ["FollowUpScheduled", "FollowUpDue", "FollowUpRecorded"]  # in the order of the flow

    def order(t: type[DomainEvent]) -> tuple[int, int, str]:
        if t.wire_type in first:
            return (0, first.index(t.wire_type), "")
        if t.wire_type in last:
            return (2, last.index(t.wire_type), "")
        return (1, 0, t.wire_type)

    return sorted(events, key=order)


async def test_every_dispatch_event_type_arrives_whole_at_consumers_and_in_the_read_model(
    system: System, settings: Settings
) -> None:
    await system.bus.publish_call(call("CALL-ROUND-TRIP", received_at=AT.isoformat()))
    found: list[str] = []

    async def registered() -> bool:
        found[:] = [v["complaint_no"] for v in system.store.complaints_for_call("CALL-ROUND-TRIP")]
        return bool(found)

    await wait_until(registered, what="the complaint")
    complaint_no = found[0]
    dispatch = build_dispatch(settings, consume=False)
    await dispatch.start()
    try:
        app = dispatch.app
        assert app is not None
        types = dispatch_types()
        assert len(types) >= 33
        roster_types = [t for t in types if t.wire_type in ROSTER_TYPES]
        case_types = [t for t in types if t not in roster_types]
        events = [full_event(cls, complaint_no, n) for n, cls in enumerate(roster_types, start=1)]
        events += [full_event(cls, complaint_no, n) for n, cls in enumerate(case_types, start=1)]
        escalation = full_event(EscalationRaised, complaint_no, len(case_types) + 1)  # ESC-CHAIN's, shared
        events.append(msgspec.structs.replace(escalation, trigger_rule="DSP-ARRIVE", ack_due_at=ACK_DUE))
        sub = await system.bus.js.subscribe(settings.names.events_of("dispatch"), ordered_consumer=True)
        await asyncio.to_thread(app.save, *events)
        dispatch.ports.relay_wakeup.set()

        received: dict[tuple[uuid.UUID, int], msgspec.Struct] = {}
        while len(received) < len(events):
            msg = await sub.next_msg(timeout=20)
            envelope = decode_envelope(msg.data)
            received[(envelope.aggregate_id, envelope.aggregate_version)] = payload(envelope)
        for event in events:
            arrived = received[(event.originator_id, event.originator_version)]
            assert type(arrived) is type(event)
            expected = event
            if hasattr(event, "originator_topic"):
                expected = msgspec.structs.replace(event, originator_topic="")
            assert arrived == expected, event.wire_type  # every field, nested ones too

        async def folded_all() -> bool:
            view = system.store.complaint(complaint_no)
            return bool(view and view.get("dispatch") and view["dispatch"]["followups"]
                        and view["dispatch"]["followups"][0]["status"] == "done")  # fmt: skip

        await wait_until(folded_all, what="the read model folds the case's last events")
        view = system.store.complaint(complaint_no)
        assert view is not None
        folded = view["dispatch"]
        assert folded["fee"]["consent"] == "accepted"  # FeeConsentRecorded
        assert folded["fee"]["fee_fen"] == 7
        assert folded["engineers"][0]["reason"] == "reason-值"  # EngineerWithdrawn
        assert folded["form"]["key"] == "form-值"  # ServiceFormSigned.form
        assert folded["form"]["parts_total_fen"] == 7
        assert folded["return"]["left_without_approval"] is True
        assert folded["report"]["returned_materials"] == ["returned_materials-值"]
        assert folded["audit"]["cost_approved_fen"] == 7
        assert folded["auditor"]["id"] == "auditor-值"
        assert view["service_fault"]["finding"] == "finding-值"
        assert folded["followups"][0]["notes"] == "notes-值"
        raised = next(e for e in view["escalations"] if e["rule"] == "DSP-ARRIVE")
        assert raised["ack_due_at"] == ACK_DUE  # dispatch's escalations show when they are due (issue 12 drift)

        async def roster_folded() -> bool:
            return any(e["load"] == 14 for e in system.store.engineers())  # registered 7, updated 7, +7

        await wait_until(roster_folded, what="the roster's load change")
        (engineer,) = system.store.engineers()
        assert (engineer["region"], engineer["skills"], engineer["load"]) == ("region-值", ["skills-值"], 14)
    finally:
        await dispatch.stop()
