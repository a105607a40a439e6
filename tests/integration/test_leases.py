"""Dynamic ownership of partitions (shared/runtime/leases.py) on a real PostgreSQL: fair shares, a
dead owner's partitions taken over after the lease time, and the fence that refuses a former owner's
position write in its own transaction."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator

import pytest
from eventsourcing.persistence import Tracking

from services.parts.application import PartsApplication
from services.reporting.application import ReportingStore
from shared.events.envelope import Envelope
from shared.runtime.leases import LeaseLost, Leases, Rebalance
from shared.runtime.partitions import Partition, partition_of
from shared.runtime.settings import Settings
from shared.runtime.store import build_application, recorder_of

pytestmark = pytest.mark.integration

TTL_S = 1.0


@pytest.fixture
def store(settings: Settings) -> Iterator[ReportingStore]:
    store = ReportingStore(settings.database_url, settings.names.db_schema("reporting"))
    store.open()
    yield store
    store.close()


def envelope(position: int, key: str) -> Envelope:
    """An event the read model keeps no row for (only its position moves)."""
    return Envelope(
        event_id=uuid.uuid4(), type="CalendarPublished", version=1, occurred_at=dt.datetime.now(dt.UTC),
        service="intake", position=position, aggregate_id=uuid.uuid4(), aggregate_version=1,
        correlation_id=key, causation_id="test",
    )  # fmt: skip


def key_in(partition: int) -> str:
    return next(k for k in (f"calendar:{y}" for y in range(2000, 2100)) if partition_of(k, 2) == partition)


def test_each_instance_takes_its_fair_share(store: ReportingStore) -> None:
    a = Leases(store.database_url, store.schema, 2, TTL_S * 10)
    assert set(a.acquire()) == {0, 1}  # alone: everything
    b = Leases(store.database_url, store.schema, 2, TTL_S * 10)
    assert b.acquire() == {}  # nothing free yet
    with pytest.raises(Rebalance, match="fair share is 1"):
        a.renew()  # a second instance is alive: a gives back what it holds and restarts
    a.release()
    assert len(b.acquire()) == 1
    a_again = Leases(store.database_url, store.schema, 2, TTL_S * 10)
    assert len(a_again.acquire()) == 1
    assert set(a_again.held) | set(b.held) == {0, 1}
    a_again.renew()
    b.renew()  # settled: nobody needs to move


def test_a_dead_owners_partitions_are_taken_over_and_its_late_write_is_refused(store: ReportingStore) -> None:
    old = Leases(store.database_url, store.schema, 2, TTL_S)
    assert set(old.acquire()) == {0, 1}
    store.fences.update(old.fences(["intake"]))
    key = key_in(1)
    tracking = Partition(1, 2).tracking("intake")
    assert store.project("intake", [envelope(5, key)], tracking) == 1

    time.sleep(TTL_S * 1.5)  # the owner stops renewing (paused, or dead)
    new = Leases(store.database_url, store.schema, 2, TTL_S)
    assert set(new.acquire()) == {0, 1}
    assert new.held[1] == old.held[1] + 1  # a new epoch
    with pytest.raises(LeaseLost):  # the former owner wakes up: its write is refused, nothing committed
        store.project("intake", [envelope(6, key)], tracking)
    assert store.positions()[tracking] == 5
    with pytest.raises(Rebalance, match="leases lost"):
        old.renew()

    store.fences.update(new.fences(["intake"]))
    assert store.project("intake", [envelope(6, key)], tracking) == 1
    assert store.positions()[tracking] == 6


def test_the_event_store_refuses_a_former_owners_position_too(settings: Settings) -> None:
    app = build_application(PartsApplication, settings.database_url, settings.names.db_schema("parts"))
    recorder = recorder_of(app)
    try:
        old = Leases(settings.database_url, recorder._schema, 2, TTL_S)
        old.acquire()
        recorder.fences.update(old.fences(["dispatch"]))
        tracking = Partition(0, 2).tracking("dispatch")
        app.save(position=Tracking(tracking, 3))
        time.sleep(TTL_S * 1.5)
        Leases(settings.database_url, recorder._schema, 2, TTL_S).acquire()
        with pytest.raises(LeaseLost):
            app.save(position=Tracking(tracking, 4))
        assert recorder.max_tracking_id(tracking) == 3
    finally:
        app.close()
