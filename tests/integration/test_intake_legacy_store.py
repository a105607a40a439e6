"""Intake's events stored before issue 12 (nested eventsourcing classes, the library's JSON
transcoder) still load: into the Structs of shared/events, no field lost, aggregates as they were, new
events appended in the new format, and the audit chain of the mixed store verifies.

tests/data/legacy_intake_events.json holds the stored rows (topic and state bytes, base64) of a rich
intake history written by the code before the migration."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from eventsourcing.persistence import JSONTranscoder, StoredEvent

from aftersales.audit import verify_store
from services.intake.application import IntakeApplication
from services.intake.domain import Complaint, Equipment
from shared.events import commands as cmd
from shared.events.base import META_FIELDS, DomainEvent
from shared.events.legacy import LEGACY_TOPICS
from shared.runtime.settings import Settings
from shared.runtime.store import build_application, recorder_of

pytestmark = pytest.mark.integration
CN = dt.timezone(dt.timedelta(hours=8))
ROWS = json.loads((Path(__file__).parent.parent / "data" / "legacy_intake_events.json").read_text())
NEW_OPTIONAL = {"ack_due_at", "rule", "policy_version", "inputs", "outputs"}  # EscalationRaised's (ESC-CHAIN)


def stored(row: dict[str, Any]) -> StoredEvent:
    return StoredEvent(uuid.UUID(row["originator_id"]), row["originator_version"], row["topic"],
                       base64.b64decode(row["state"]))  # fmt: skip


@pytest.fixture
def app(settings: Settings) -> Iterator[IntakeApplication]:
    application = build_application(IntakeApplication, settings.database_url, settings.names.db_schema("intake"))
    events = [stored(row) for row in ROWS]
    legacy = application.mapper.transcoder
    lookups = [
        (f"complaint_no:{legacy.decode(e.state)['complaint_no']}", e.originator_id)
        for e in events
        if e.topic.endswith(":Complaint.Received")
    ]
    recorder_of(application).insert_events(events, lookups=lookups)
    yield application
    application.close()


def _plain(value: Any) -> Any:
    return msgspec.to_builtins(value)


def test_every_legacy_event_loads_into_its_struct_with_no_field_lost(app: IntakeApplication) -> None:
    transcoder: JSONTranscoder = app.mapper.transcoder  # type: ignore[assignment]
    assert {row["topic"] for row in ROWS} <= set(LEGACY_TOPICS)
    for row in ROWS:
        event = app.mapper.to_domain_event(stored(row))
        assert isinstance(event, DomainEvent), row["topic"]
        old: dict[str, Any] = transcoder.decode(base64.b64decode(row["state"]))
        new = {name: getattr(event, name) for name in event.__struct_fields__}
        for name, value in old.items():
            if name == "originator_topic" and name not in new:
                continue
            assert name in new, f"{row['topic']}: {name} lost"
            assert _plain(new[name]) == _plain(value), f"{row['topic']}: {name}"
        assert event.originator_id == uuid.UUID(row["originator_id"])
        assert set(new) - set(old) <= META_FIELDS | NEW_OPTIONAL  # nothing made up but the new optional


def test_legacy_aggregates_load_take_new_events_and_the_mixed_chain_verifies(
    app: IntakeApplication, settings: Settings
) -> None:
    received = [stored(r) for r in ROWS if r["topic"].endswith(":Complaint.Received")]
    complaints: list[Complaint] = [app.repository.get(uuid.UUID(str(e.originator_id))) for e in received]
    fault, incomplete, consultation = complaints
    assert (fault.status, consultation.status) == ("solution_decided", "closed")
    assert fault.deadlines["INT-RELAY-4WH"].breached_at == "2026-11-23T14:00:00+08:00"
    assert fault.deadlines["INT-RELAY-4WH"].met_at == "2026-11-23T14:00:00+08:00"
    assert len(fault.fines) == 1
    assert len(fault.escalations) >= 1
    assert [(r.problem, r.outcome) for r in fault.repairs] == [("漏油", "failed"), ("漏油", "fixed")]
    assert incomplete.equipment.acceptance_date == dt.date(2026, 6, 1)
    assert incomplete.site.distance_km == 42.5
    assert incomplete.customer.name == "乙"
    assert incomplete.fines_under("FIN-RECORD-INCOMPLETE") == 1
    assert [s.rating for s in consultation.surveys] == [5]
    unit: Equipment = app.repository.get(next(uuid.UUID(r["originator_id"]) for r in ROWS
                                              if r["topic"].endswith(":Equipment.Registered")))  # fmt: skip
    assert unit.outcomes_of("漏 油") == ["failed", "fixed"]

    before = recorder_of(app).max_notification_id() or 0
    events = app.execute(cmd.Close(complaint_no=fault.complaint_no, actor=cmd.Actor("tq-003", "tq"), outcome="已修复"),
                         dt.datetime(2026, 12, 1, 9, 0, tzinfo=CN), "test")  # fmt: skip
    assert events == ["ComplaintClosed"]
    (new,) = recorder_of(app).select_notifications(before + 1, 10)
    assert new.topic == "shared.events.intake_events:ComplaintClosed"
    assert b"_type_" not in new.state
    assert app.complaint_by_number(fault.complaint_no).status == "closed"

    verdict = verify_store(settings, "intake")
    assert verdict.ok, verdict.problems
    assert verdict.events == len(ROWS) + 1
