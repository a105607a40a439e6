"""Parts' events stored before issue 12 (nested eventsourcing classes, the library's JSON transcoder)
still load: into the Structs of shared/events/parts_events.py, no field lost, every old part's state as
the code before the migration had it, new events appended in the new format, and the audit chain of the
mixed store verifies.

tests/data/legacy_parts_events.json holds the stored rows (topic and state bytes, base64) of a parts
history written by the code before the migration (a part returned late with a fine, a responsibility
review escalated and settled to a supplier with a claim; a delay reported and a sale below the floor;
an incomplete record completed, split lots re-levelled, a give-away; market prices recorded and revised);
tests/data/legacy_parts_states.json what that code's aggregates held at the end."""

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
from services.parts.application import PartsApplication
from services.parts.domain import MarketPrice, OldPart, ScrapLedger, market_price_id_for
from shared.events import commands as cmd
from shared.events.base import META_FIELDS, DomainEvent
from shared.events.legacy import LEGACY_TOPICS
from shared.runtime.settings import Settings
from shared.runtime.store import build_application, recorder_of

pytestmark = pytest.mark.integration
CN = dt.timezone(dt.timedelta(hours=8))
DATA = Path(__file__).parent.parent / "data"
ROWS = json.loads((DATA / "legacy_parts_events.json").read_text())
STATES: dict[str, dict[str, Any]] = json.loads((DATA / "legacy_parts_states.json").read_text())


def stored(row: dict[str, Any]) -> StoredEvent:
    return StoredEvent(uuid.UUID(row["originator_id"]), row["originator_version"], row["topic"],
                       base64.b64decode(row["state"]))  # fmt: skip


@pytest.fixture
def app(settings: Settings) -> Iterator[PartsApplication]:
    application = build_application(PartsApplication, settings.database_url, settings.names.db_schema("parts"))
    recorder_of(application).insert_events([stored(row) for row in ROWS])
    yield application
    application.close()


def test_every_legacy_parts_event_loads_into_its_struct_with_no_field_lost(app: PartsApplication) -> None:
    transcoder: JSONTranscoder = app.mapper.transcoder  # type: ignore[assignment]
    topics = {row["topic"] for row in ROWS}
    assert topics <= set(LEGACY_TOPICS)
    assert len(topics) == 28  # every nested event class parts had
    for row in ROWS:
        event = app.mapper.to_domain_event(stored(row))
        assert isinstance(event, DomainEvent), row["topic"]
        old: dict[str, Any] = transcoder.decode(base64.b64decode(row["state"]))
        new = {name: getattr(event, name) for name in event.__struct_fields__}
        for name, value in old.items():
            if name == "originator_topic" and name not in new:
                continue
            assert name in new, f"{row['topic']}: {name} lost"
            assert msgspec.to_builtins(new[name]) == msgspec.to_builtins(value), f"{row['topic']}: {name}"
        assert event.originator_id == uuid.UUID(row["originator_id"])
        assert set(new) - set(old) <= META_FIELDS  # nothing made up


def old_shape(part: OldPart) -> dict[str, Any]:
    """The typed state in the shape the code before the migration kept it (dicts)."""
    state = {name: msgspec.to_builtins(getattr(part, name)) for name in (
        "part_id", "complaint_no", "dispatch_id", "record", "due_date", "status", "delay_days", "delay_reason",
        "fine_id", "handed_in_on", "recovered_on", "shipped_on", "returned_on", "disposition", "responsibility",
        "claim", "record_missing")}  # fmt: skip
    if part.sale is not None:
        sale, floor = part.sale, part.sale.floor
        state["sale"] = {"buyer": sale.buyer, "price_fen": sale.price_fen, "quotes": msgspec.to_builtins(sale.quotes),
                         "reason": sale.reason, "floor": floor.outputs, "inputs": floor.inputs,
                         "policy_version": floor.policy_version, "verified_by": sale.verified_by,
                         "approved_by": sale.approved_by, "reported_by": sale.reported_by}  # fmt: skip
    else:
        state["sale"] = None
    disposal = msgspec.to_builtins(part.disposal)
    if disposal is not None:
        disposal["ledger"] = list(disposal["ledger"])
        if disposal["superseded"] is None:
            del disposal["superseded"]
    state["disposal"] = disposal
    deadline = part.deadlines.get("PRT-RESPONSIBILITY")
    escalated = deadline is not None and deadline.breached_at is not None
    review = part.responsibility.review_date if part.responsibility else ""
    state["escalations"] = [str(uuid.uuid5(part.id, f"PRT-RESPONSIBILITY:{review}"))] if escalated else []
    return state


def test_legacy_aggregates_load_as_they_were_take_new_events_and_the_mixed_chain_verifies(
    app: PartsApplication, settings: Settings
) -> None:
    for part_id, expected in STATES.items():
        assert old_shape(app.part(part_id)) == expected, part_id
    ret = app.part("RET").deadlines["PRT-RESPONSIBILITY"]
    assert (ret.due_at, ret.breached_at, ret.met_at) == (
        "2026-12-31T23:59:59.999999+08:00", "2027-02-20T01:00:00+08:00", "2027-02-21T10:00:00+08:00"
    )  # fmt: skip
    price: MarketPrice = app.repository.get(market_price_id_for("四川", dt.date(2026, 12, 16)))
    assert price.price_per_ton_fen == 1_800_000
    ledger_row = next(r for r in ROWS if r["topic"].endswith(":ScrapLedger.Opened"))
    ledger: ScrapLedger = app.repository.get(uuid.UUID(ledger_row["originator_id"]))
    assert [(lot.part_id, lot.original_value_fen, lot.on) for lot in ledger.lots] == [
        ("A", 1_500_000, "2027-12-28"), ("B", 1_500_000, "2028-01-10")
    ]  # fmt: skip

    before = recorder_of(app).max_notification_id() or 0
    officer = cmd.Actor(id="opo-1", role="old_parts_officer")
    now = dt.datetime(2028, 1, 12, 10, 0, tzinfo=CN)
    assert app.execute(cmd.ApproveDisposal(actor=officer, part_id="B"), now, "test")[1] == ["DisposalApproved"]
    keeper = cmd.Actor(id="wk-1", role="warehouse_keeper")
    assert app.execute(cmd.RecordDisposal(actor=keeper, part_id="B"), now, "test")[1] == ["PartDisposed"]
    new = recorder_of(app).select_notifications(before + 1, 10)
    assert [n.topic for n in new] == ["shared.events.parts_events:DisposalApproved",
                                      "shared.events.parts_events:PartDisposed"]  # fmt: skip
    assert all(b"_type_" not in n.state for n in new)
    assert app.part("B").status == "disposed"

    verdict = verify_store(settings, "parts")
    assert verdict.ok, verdict.problems
    assert verdict.events == len(ROWS) + 2
