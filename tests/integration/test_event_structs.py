"""One definition per event (shared/events/base.py, shared/runtime/mapper.py): Struct events stored
as msgspec JSON next to events stored before in the library's JSON format, both loading into the
Structs, and the audit chain over a store holding both."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic

from aftersales.audit import verify_store
from shared.domain.aggregate import EventSourced, applies
from shared.events.base import CreatedEvent, DecisionEvent, DomainEvent
from shared.events.catalog import Catalog, EventSpec
from shared.events.legacy import LEGACY_TOPICS
from shared.runtime import mapper
from shared.runtime.relay import to_envelope
from shared.runtime.settings import Settings
from shared.runtime.store import StoredApplication, build_application, recorder_of

pytestmark = pytest.mark.integration
AT = dt.datetime(2026, 12, 31, 16, 59, tzinfo=dt.timezone(dt.timedelta(hours=8)))


class OldThing(Aggregate):
    """How aggregates were written before: nested event classes, the library's JSON transcoder."""

    class Opened(Aggregate.Created):
        name: str
        tags: list[str]
        correlation_id: str
        causation_id: str

    class Renamed(Aggregate.Event):
        name: str
        at: dt.datetime
        correlation_id: str
        causation_id: str

    def __init__(self, name: str, tags: list[str], correlation_id: str, causation_id: str) -> None:
        self.name = name

    def rename(self, name: str) -> None:
        self.trigger_event(self.Renamed, timestamp=AT, name=name, at=AT, correlation_id="T-1", causation_id="c")


class ThingOpened(CreatedEvent, frozen=True, kw_only=True):
    name: str
    tags: list[str]


class ThingRenamed(DomainEvent, frozen=True, kw_only=True):
    name: str
    at: dt.datetime


class ThingJudged(DecisionEvent, frozen=True, kw_only=True):
    pass


class Thing(EventSourced):
    name: str
    tags: list[str]
    judged: dict[str, Any]

    @property
    def correlation_id(self) -> str:
        return "T-1"

    @classmethod
    def open(cls, thing_id: uuid.UUID, name: str) -> Thing:
        return cls._open(ThingOpened, thing_id, AT, "T-1", "c", name=name, tags=["a"])

    @applies(ThingOpened)
    def _opened(self, event: ThingOpened) -> None:
        self.name, self.tags, self.judged = event.name, list(event.tags), {}

    @applies(ThingRenamed)
    def _renamed(self, event: ThingRenamed) -> None:
        self.name = event.name

    @applies(ThingJudged)
    def _judged(self, event: ThingJudged) -> None:
        self.judged = event.outputs

    def rename(self, name: str) -> None:
        self._trigger(ThingRenamed, AT, "c", name=name, at=AT)

    def judge(self) -> None:
        self._trigger(ThingJudged, AT, "c", rule="R-1", policy_version="p-1", inputs={"x": 1}, outputs={"ok": True})


class IntakeStore(StoredApplication):
    name = "intake"  # intake's schema and table: `aftersales audit verify` walks it


@pytest.fixture
def app(settings: Settings) -> Iterator[Application[uuid.UUID]]:
    application = build_application(IntakeStore, settings.database_url, settings.names.db_schema("intake"))
    yield application
    application.close()


@pytest.fixture
def aliases(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setitem(LEGACY_TOPICS, get_topic(OldThing.Opened), get_topic(ThingOpened))
    monkeypatch.setitem(LEGACY_TOPICS, get_topic(OldThing.Renamed), get_topic(ThingRenamed))
    monkeypatch.setitem(LEGACY_TOPICS, get_topic(OldThing), get_topic(Thing))  # the aggregate moved too
    mapper.struct_for.cache_clear()
    yield
    mapper.struct_for.cache_clear()


def test_legacy_and_struct_events_load_into_the_structs_and_the_chain_holds(
    app: Application[uuid.UUID], settings: Settings, aliases: None
) -> None:
    thing_id = uuid.uuid5(uuid.NAMESPACE_URL, "thing")
    old = OldThing._create(OldThing.Opened, id=thing_id, timestamp=AT, name="甲", tags=["a", "b"],
                           correlation_id="T-1", causation_id="c")  # fmt: skip
    old.rename("乙")
    app.save(old)
    legacy_bytes = [bytes(e.state) for e in recorder_of(app).select_events(thing_id)]
    assert b"_type_" in legacy_bytes[1]  # the library's format: {"_type_": "datetime_iso", …}

    thing: Thing = app.repository.get(thing_id)
    assert isinstance(thing, Thing)
    assert (thing.name, thing.tags, thing.version) == ("乙", ["a", "b"], 2)
    events = list(app.events.get(thing_id))
    assert [type(e).__name__ for e in events] == ["ThingOpened", "ThingRenamed"]
    assert events[1] == ThingRenamed(originator_id=thing_id, originator_version=2, timestamp=AT, correlation_id="T-1",
                                     causation_id="c", name="乙", at=AT)  # fmt: skip

    thing.rename("丙")
    thing.judge()
    app.save(thing)
    stored = recorder_of(app).select_events(thing_id)
    assert [bytes(e.state) for e in stored[:2]] == legacy_bytes  # old events untouched
    assert [e.topic for e in stored[2:]] == [get_topic(ThingRenamed), get_topic(ThingJudged)]
    assert b"_type_" not in stored[2].state
    again: Thing = app.repository.get(thing_id)
    assert (again.name, again.judged, again.version) == ("丙", {"ok": True}, 4)

    envelope = to_envelope("intake", 4, app.events.get(thing_id, gt=3).__next__())
    assert (envelope.type, envelope.rule, envelope.policy_version, envelope.inputs) == (
        "ThingJudged", "R-1", "p-1", {"x": 1},
    )  # fmt: skip
    assert envelope.data == {"outputs": {"ok": True}}

    verdict = verify_store(settings, "intake")
    assert verdict.ok, verdict.problems
    assert verdict.events == 4


def test_a_struct_event_that_does_not_fit_its_stored_bytes_fails_loudly(app: Application[uuid.UUID]) -> None:
    thing_id = uuid.uuid5(uuid.NAMESPACE_URL, "thing-2")
    app.save(Thing.open(thing_id, "甲"))
    stored = recorder_of(app).select_events(thing_id)[0]
    broken = type(stored)(stored.originator_id, stored.originator_version, get_topic(ThingRenamed), stored.state)
    with pytest.raises(Exception, match="does not fit ThingRenamed"):
        app.mapper.to_domain_event(broken)


class ThingRenamedV1(DomainEvent, frozen=True, kw_only=True):
    """v1 of a renaming: the name in two parts (stays at its topic for the rows stored so)."""

    wire_type = "ThingRenamedTwice"
    first: str
    last: str


class ThingRenamedV2(DomainEvent, frozen=True, kw_only=True):
    wire_type = "ThingRenamedTwice"
    wire_version = 2
    name: str


def test_a_stored_older_version_is_upcast_on_load_by_the_catalogs_upcaster(
    app: Application[uuid.UUID], monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog = Catalog()
    catalog.register(EventSpec("ThingRenamedTwice", 1, ThingRenamedV1, "intake", "v1"))
    catalog.register(EventSpec("ThingRenamedTwice", 2, ThingRenamedV2, "intake", "v2"))

    @catalog.upcaster("ThingRenamedTwice", 1)
    def join(data: dict[str, Any]) -> dict[str, Any]:
        return {"name": f"{data['first']}{data['last']}"}

    monkeypatch.setattr(mapper, "CATALOG", catalog)
    thing_id = uuid.uuid5(uuid.NAMESPACE_URL, "thing-3")
    old = ThingRenamedV1(originator_id=thing_id, originator_version=1, timestamp=AT, correlation_id="T-1",
                         causation_id="c", first="张", last="三")  # fmt: skip
    app.save(old)
    (loaded,) = app.events.get(thing_id)
    assert loaded == ThingRenamedV2(originator_id=thing_id, originator_version=1, timestamp=AT, correlation_id="T-1",
                                    causation_id="c", name="张三")  # fmt: skip
