"""Reporting's folds over a batch, without a database: what the store loads goes in, what it saves
comes out (services/reporting/projection.py)."""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec

from services.reporting.projection import Folded, fold_batch, fold_roster, roster_engineers
from shared.events import catalog as c
from shared.events import dispatch_events as d
from shared.events.base import DomainEvent
from shared.events.envelope import Envelope, event_id_for
from tests.support import wire_event

AT = dt.datetime(2026, 11, 23, 1, 15, tzinfo=dt.UTC)
NO = "TS-2026-00000001"


def envelope(payload: msgspec.Struct, service: str, position: int, correlation_id: str = NO) -> Envelope:
    aggregate_id = uuid.uuid5(uuid.NAMESPACE_URL, correlation_id)
    data = payload.wire_data() if isinstance(payload, DomainEvent) else msgspec.to_builtins(payload)
    return Envelope(event_id=event_id_for(aggregate_id, position), type=type(payload).__name__, version=1,
                    occurred_at=AT + dt.timedelta(minutes=position), service=service, position=position,
                    aggregate_id=aggregate_id, aggregate_version=position, correlation_id=correlation_id,
                    causation_id="test", data=data)  # fmt: skip


def received(position: int = 1) -> Envelope:
    payload = c.ComplaintReceived(originator_id=uuid.uuid5(uuid.NAMESPACE_URL, NO), originator_version=position,
                                  timestamp=AT, correlation_id=NO, causation_id="test", complaint_no=NO,
                                  call_id="CALL-1", received_at=AT, kind="fault", agent_id="a-1",
                                  customer=c.CustomerInfo(), equipment=c.EquipmentInfo(), site=c.SiteInfo(),
                                  description="漏油", record_incomplete=False, missing_fields=[])  # fmt: skip
    return envelope(payload, "intake", position)


def followed_up(position: int) -> Envelope:
    return envelope(wire_event(d.FollowUpRecorded, actor="agent-1", quarter=1, notes="满意"), "dispatch", position)


def registered(engineer_id: str, position: int, load: int = 0) -> Envelope:
    payload = wire_event(d.EngineerRegistered, engineer_id=engineer_id, name="王工", region="四川", skills=["SY215"],
                         load=load, available=True, actor="tq-1")  # fmt: skip
    return envelope(payload, "dispatch", position, d.ROSTER_CORRELATION)


def load_changed(engineer_id: str, delta: int, position: int) -> Envelope:
    payload = wire_event(d.EngineerLoadChanged, engineer_id=engineer_id, delta=delta, complaint_no=NO)
    return envelope(payload, "dispatch", position, d.ROSTER_CORRELATION)


def history(folded: Folded) -> list[str]:
    view = folded.views[NO]
    assert view is not None
    return [step["type"] for step in view["history"]]


def test_an_event_before_its_complaint_is_kept_and_changes_no_view() -> None:
    early = followed_up(1)
    folded = fold_batch({}, {}, [early])
    assert folded.parked == [(NO, early)]
    assert folded.views == {}
    assert folded.unparked == []


def test_the_kept_events_follow_their_complaint_once_it_arrives() -> None:
    folded = fold_batch({}, {NO: [(7, followed_up(1))]}, [received()])
    assert history(folded) == ["ComplaintReceived", "FollowUpRecorded"]
    assert folded.unparked == [7]
    assert folded.parked == []


def test_events_about_no_complaint_change_nothing() -> None:
    calendar = msgspec.structs.replace(received(), type="CalendarPublished", correlation_id="calendar:2027", data={})
    erased = msgspec.structs.replace(received(2), type="PersonalDataErased", data={})
    assert fold_batch({}, {}, [calendar, erased]) == Folded({})


def test_roster_events_go_to_the_roster_in_order_the_kept_ones_first() -> None:
    kept, fresh = registered("eng-1", 1), load_changed("eng-1", 2, 2)
    folded = fold_batch({}, {d.ROSTER_CORRELATION: [(3, kept)]}, [fresh])
    assert folded.roster == [kept, fresh]
    assert folded.unparked == [3]
    assert folded.views == {}


def test_the_roster_folds_into_the_rows_it_changes() -> None:
    roster = [registered("eng-2", 1, load=1), load_changed("eng-1", -5, 2), load_changed("eng-2", 2, 3)]
    assert roster_engineers(roster) == ["eng-1", "eng-2"]
    stored = {"eng-1": {"engineer_id": "eng-1", "load": 3, "updated_at": "earlier"}}
    changed = fold_roster(stored, roster)
    assert sorted(changed) == ["eng-1", "eng-2"]
    assert changed["eng-1"]["load"] == 0  # never below zero
    assert changed["eng-2"]["load"] == 3
    assert changed["eng-2"]["region"] == "四川"


def test_a_load_change_of_an_unknown_engineer_changes_no_row() -> None:
    assert fold_roster({}, [load_changed("eng-9", 1, 1)]) == {}
