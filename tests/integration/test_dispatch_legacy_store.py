"""Dispatch's events stored before issue 12 (nested eventsourcing classes, the library's JSON
transcoder) still load: into the Structs of shared/events, no field lost, the roster and the case as
they were, new events appended in the new format, and the audit chain of the mixed store verifies.

tests/data/legacy_dispatch_events.json holds the stored rows (topic and state bytes, base64) of a rich
dispatch history (every event type of the roster and the case) written by the code before the
migration."""

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
from services.dispatch.application import DispatchApplication
from services.dispatch.domain import ROSTER_ID, Case, Roster, case_id_for
from shared.events import commands as cmd
from shared.events.base import META_FIELDS, DomainEvent
from shared.events.legacy import LEGACY_TOPICS
from shared.runtime.settings import Settings
from shared.runtime.store import build_application, recorder_of

pytestmark = pytest.mark.integration
CN = dt.timezone(dt.timedelta(hours=8))
ROWS = json.loads((Path(__file__).parent.parent / "data" / "legacy_dispatch_events.json").read_text())
COMPLAINT_NO = "TS-2026-00000001"
NEW_OPTIONAL = {"ack_due_at", "rule", "policy_version", "inputs", "outputs"}  # EscalationRaised's, optional


def stored(row: dict[str, Any]) -> StoredEvent:
    return StoredEvent(uuid.UUID(row["originator_id"]), row["originator_version"], row["topic"],
                       base64.b64decode(row["state"]))  # fmt: skip


@pytest.fixture
def app(settings: Settings) -> Iterator[DispatchApplication]:
    application = build_application(DispatchApplication, settings.database_url, settings.names.db_schema("dispatch"))
    recorder_of(application).insert_events([stored(row) for row in ROWS])
    yield application
    application.close()


def _plain(value: Any) -> Any:
    return msgspec.to_builtins(value)


def test_every_legacy_dispatch_event_loads_into_its_struct_with_no_field_lost(app: DispatchApplication) -> None:
    transcoder: JSONTranscoder = app.mapper.transcoder  # type: ignore[assignment]
    topics = {row["topic"] for row in ROWS}
    assert topics <= set(LEGACY_TOPICS)
    assert len(topics) == 38  # every event class the roster and the case had
    for row in ROWS:
        event = app.mapper.to_domain_event(stored(row))
        assert isinstance(event, DomainEvent), row["topic"]
        old: dict[str, Any] = transcoder.decode(base64.b64decode(row["state"]))
        new = {name: getattr(event, name) for name in event.__struct_fields__}
        for name, value in old.items():
            if name == "originator_topic":
                continue  # the aggregate's old class, resolved through LEGACY_TOPICS
            assert name in new, f"{row['topic']}: {name} lost"
            assert _plain(new[name]) == _plain(value), f"{row['topic']}: {name}"
        assert event.originator_id == uuid.UUID(row["originator_id"])
        assert set(new) - set(old) <= META_FIELDS | NEW_OPTIONAL  # nothing made up but the new optional


def test_legacy_roster_and_case_load_take_new_events_and_the_mixed_chain_verifies(
    app: DispatchApplication, settings: Settings
) -> None:
    roster: Roster = app.repository.get(ROSTER_ID)
    assert [(e.engineer_id, e.load, e.skills) for e in roster.engineers.values()] == [
        ("eng-1", 0, ["QY25K"]), ("eng-2", 0, ["QY25K", "QY50"]),
    ]  # fmt: skip  # eng-2 registered with 1, updated to 0
    case: Case = app.repository.get(case_id_for(COMPLAINT_NO))
    assert (case.status, case.engineer_id, case.excluded, case.dispatches) == ("audited", "eng-2", ["eng-1"], 2)
    assert (case.fee.consent, case.fee.deputy_gm_approved, case.fee.consent_by) == ("refused", True, "agent-017")
    assert case.customer.name == "中铁十局物资公司"
    assert case.equipment.acceptance_date == dt.date(2025, 6, 1)
    assert case.site.distance_km == 420.0
    arrive = case.deadlines["DSP-ARRIVE"]
    assert (arrive.breached_at, arrive.met_at) == ("2026-11-25T10:00:00+08:00", "2026-11-25T11:00:00+08:00")
    assert case.form is not None
    assert [p.material_code for p in case.form.parts] == ["M-SEAL-9", "M-BOLT-1"]
    assert sorted(f.status for f in case.fines.values()) == ["levied", "levied", "reversed"]
    reversed_fine = next(f for f in case.fines.values() if f.status == "reversed")
    assert (reversed_fine.rule, reversed_fine.disputed_by) == ("FIN-AUDIT-LATE", ("tq-007",))
    assert sorted(e.status for e in case.escalations.values()) == [
        "acknowledged", "acknowledged", "forwarded", "open", "open",
    ]  # fmt: skip
    assert case.service_fault is not None
    assert case.service_fault.at_fault is True
    assert case.followups == {1: "done"}

    before = recorder_of(app).max_notification_id() or 0
    fine_id = next(k for k, f in case.fines.items() if f.rule == "FIN-RELAY-LATE")
    events = app.execute(cmd.DisputeFine(complaint_no=COMPLAINT_NO, actor=cmd.Actor("agent-017", "agent"),
                                         fine_id=fine_id, reason="来电系统故障"),
                         dt.datetime(2026, 12, 7, 9, 0, tzinfo=CN), "test")  # fmt: skip
    assert events == ["FineDisputed"]
    (new,) = recorder_of(app).select_notifications(before + 1, 10)
    assert new.topic == "shared.events.dispatch_events:FineDisputed"
    assert b"_type_" not in new.state
    assert app.case(COMPLAINT_NO).fines[fine_id].status == "disputed"

    verdict = verify_store(settings, "dispatch")
    assert verdict.ok, verdict.problems
    assert verdict.events == len(ROWS) + 1
