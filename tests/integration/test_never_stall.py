"""Issue 9, "Never stall": every failure in intake's telephony batches is pinned on one message.

Real NATS JetStream and PostgreSQL. Messages that must share a batch are published before the
consumer starts, so the first fetch takes them together.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import psycopg
import pytest
import structlog
from nats.js.api import ConsumerConfig, DeliverPolicy
from psycopg.sql import SQL, Identifier

from services.intake import handlers
from services.intake.application import IntakeApplication
from services.intake.domain import complaint_id_for
from services.intake.main import build as build_intake
from services.reporting.api import register_row
from services.reporting.main import build as build_reporting
from shared.runtime.failures import MAX_DELIVERIES
from shared.runtime.service import ServiceRuntime
from shared.runtime.settings import Settings
from shared.runtime.store import recorder_of
from shared.runtime.streams import ensure_streams
from tests.integration.conftest import System
from tests.support import Bus, call, wait_until

pytestmark = pytest.mark.integration

SERIAL = "QY25K-2024-00871"
IN_WARRANTY = {"serial": SERIAL, "model": "QY25K", "acceptance_date": "2026-06-01"}


class Idle:
    """Intake and reporting built by their composition roots, started only when the test says so."""

    def __init__(self, settings: Settings, bus: Bus) -> None:
        self.settings = settings
        self.bus = bus
        self.intake: ServiceRuntime = build_intake(settings)
        self.reporting, self.store = build_reporting(settings)
        self.started = False

    @property
    def app(self) -> IntakeApplication:
        app = self.intake.app
        assert isinstance(app, IntakeApplication)
        return app

    async def start(self) -> System:
        await self.reporting.start()
        await self.intake.start()
        self.started = True
        return System(self.intake, self.reporting, self.store, self.bus)

    async def stop(self) -> None:
        if self.started:
            await self.intake.stop()
            await self.reporting.stop()
        self.store.close()


@pytest.fixture
async def idle(settings: Settings, bus: Bus) -> AsyncIterator[Idle]:
    await ensure_streams(bus.js, settings.names, 1)
    system = Idle(settings, bus)
    yield system
    await system.stop()


async def dead_letters(bus: Bus, expected: int) -> list[dict[str, Any]]:
    names = bus.names
    sub = await bus.js.pull_subscribe(
        names.deadletter("telephony"),
        durable=None,
        stream=names.deadletter_stream,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
    )
    msgs = await sub.fetch(expected, timeout=10)
    await sub.unsubscribe()
    return [json.loads(m.data) for m in msgs]


def numbers(system: System) -> list[str]:
    return sorted(v["complaint_no"] for v in system.store.tracking_register(1000, 0))


def visible(system: System, count: int) -> Callable[[], Any]:
    async def check() -> bool:
        return system.store.complaint_count() == count

    return check


async def test_three_calls_about_one_unit_in_one_batch_are_all_registered_in_order(idle: Idle) -> None:
    """The measured bug: two calls about one serial (with an acceptance date) in one batch made the
    expiry-notice timer upsert touch one row twice; the batch was retried forever. Now: all three
    registered at once, numbered in delivery order (INT-REGISTER), the first copy of a call kept."""
    for n in (1, 2, 3):
        await idle.bus.publish_call(call(f"CALL-SAME-UNIT-{n}", equipment=IN_WARRANTY, description=f"first copy {n}"))
    second_copy = call("CALL-SAME-UNIT-2", equipment=IN_WARRANTY, description="second copy")
    await idle.bus.publish_call(second_copy, msg_id="copy-2")
    with structlog.testing.capture_logs() as logs:
        system = await idle.start()
        await wait_until(visible(system, 3), timeout_s=10, what="all three calls registered")
    assert not [e for e in logs if e["event"] in ("intake_batch_split", "intake_retry")]  # one transaction
    for n in (1, 2, 3):
        (view,) = system.store.complaints_for_call(f"CALL-SAME-UNIT-{n}")
        assert view["complaint_no"] == f"TS-2026-{n:08d}"  # delivery order, no gap
        assert view["description"] == f"first copy {n}"  # INT-DEDUP keeps the first delivery
    recorder = recorder_of(idle.app)
    with recorder.datastore.get_connection() as conn:
        rows = conn.execute(
            SQL("SELECT aggregate_id FROM {0}.timers WHERE timer_id LIKE %s").format(
                Identifier(recorder.datastore.schema)
            ),
            (f"expiry:{SERIAL}:%",),
        ).fetchall()
    first = system.store.complaints_for_call("CALL-SAME-UNIT-1")[0]
    assert len(rows) == 1  # one expiry notice per unit, owned by the first complaint
    assert str(rows[0]["aggregate_id"]) == first["aggregate_id"]


async def test_an_unexpected_error_splits_the_batch_and_only_the_culprit_is_dead_lettered(idle: Idle) -> None:
    """A call that passes every check at the door but that the database refuses inside the batch's
    transaction, for a reason nobody planned for: here a trigger a DBA put on the business-key
    table refuses that complaint's row. The batch is split, that call dead-lettered with the
    database's reason, the seven around it registered (and numbered without a gap)."""
    culprit = complaint_id_for("CALL-SPLIT-5")
    recorder = recorder_of(idle.app)
    schema = Identifier(recorder.datastore.schema)
    with recorder.datastore.transaction(commit=True) as curs:
        curs.execute(
            SQL(
                "CREATE FUNCTION {0}.refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                " IF NEW.aggregate_id = {1} THEN RAISE EXCEPTION 'row refused by the DBA''s check'; END IF;"
                " RETURN NEW; END $$"
            ).format(schema, str(culprit))
        )
        curs.execute(
            SQL(
                "CREATE TRIGGER refuse_one BEFORE INSERT ON {0}.lookups FOR EACH ROW EXECUTE FUNCTION {0}.refuse_one()"
            ).format(schema)
        )
    for n in range(8):
        await idle.bus.publish_call(call(f"CALL-SPLIT-{n}", equipment={**IN_WARRANTY, "serial": f"QY25K-2024-{n:05d}"}))
    system = await idle.start()

    await wait_until(visible(system, 7), timeout_s=15, what="the seven good calls")
    (letter,) = await dead_letters(idle.bus, 1)
    assert json.loads(base64.b64decode(letter["original_b64"]))["call_id"] == "CALL-SPLIT-5"
    assert "row refused by the DBA's check" in letter["reason"]
    assert not letter["reason"].startswith("gave up")  # poison: not retried
    assert numbers(system) == [f"TS-2026-{n:08d}" for n in range(1, 8)]  # the culprit used no number


async def test_a_call_failing_transiently_is_retried_with_backoff_then_dead_lettered(
    idle: Idle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Transient, for one message only, from a real database condition: another session holds
    the 2027 register row (say a long maintenance transaction), so registering a call received in
    2027 hits the lock timeout (LockNotAvailable, an OperationalError) while 2026 calls go through.
    The 2027 call is nak'ed with a growing delay and, after MAX_DELIVERIES deliveries, dead-lettered
    with "gave up after N deliveries"; its attempts used up no register number."""
    monkeypatch.setattr(handlers, "RETRY_BASE_S", 0.05)
    new_year = "2027-01-01T00:30:00+08:00"
    await idle.bus.publish_call(call("CALL-2027-FIRST", received_at=new_year))
    system = await idle.start()
    recorder_of(idle.app).lock_timeout_ms = 200
    await wait_until(visible(system, 1), timeout_s=10)
    assert numbers(system) == ["TS-2027-00000001"]

    schema = recorder_of(idle.app).datastore.schema
    with psycopg.connect(idle.settings.database_url) as holder:
        lock = SQL("SELECT * FROM {0}.register_counter WHERE year = 2027 FOR UPDATE").format(Identifier(schema))
        holder.execute(lock)
        await idle.bus.publish_call(call("CALL-2026-A"))
        await idle.bus.publish_call(call("CALL-2027-STUCK", received_at="2027-01-02T10:00:00+08:00"))
        await idle.bus.publish_call(call("CALL-2026-B"))
        await wait_until(visible(system, 3), timeout_s=10, what="the 2026 calls beside the stuck one")
        (letter,) = await dead_letters(idle.bus, 1)
        holder.rollback()
    assert json.loads(base64.b64decode(letter["original_b64"]))["call_id"] == "CALL-2027-STUCK"
    assert letter["reason"].startswith(f"gave up after {MAX_DELIVERIES} deliveries: ")
    assert "lock" in letter["reason"].lower()

    # Numbers stay gapless in both years, also across the new year (the counter is per year).
    await idle.bus.publish_call(call("CALL-2027-AFTER", received_at="2027-01-03T09:00:00+08:00"))
    await wait_until(visible(system, 4), timeout_s=10)
    assert numbers(system) == ["TS-2026-00000001", "TS-2026-00000002", "TS-2027-00000001", "TS-2027-00000002"]


async def test_a_lost_number_is_void_in_the_register_with_its_reason(system: System) -> None:
    """INT-REGISTER: a number taken but never given to a complaint (as the sequence of earlier
    versions did on every retried batch; here the counter is moved past one by hand) is found,
    recorded void with its reason (an event), and shown in the tracking register: no silent gap."""
    app = system.intake.app
    assert isinstance(app, IntakeApplication)
    await system.bus.publish_call(call("CALL-BEFORE-GAP"))
    await wait_until(visible(system, 1), timeout_s=10)
    recorder = recorder_of(app)
    with recorder.datastore.transaction(commit=True) as curs:
        curs.execute(
            SQL("UPDATE {0}.register_counter SET last = last + 1 WHERE year = 2026").format(
                Identifier(recorder.datastore.schema)
            )
        )
    await system.bus.publish_call(call("CALL-AFTER-GAP"))
    await wait_until(visible(system, 2), timeout_s=10)

    voided = app.void_lost_numbers(dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC))
    assert voided == ["TS-2026-00000002"]
    assert app.void_lost_numbers(dt.datetime(2026, 11, 23, 12, 5, tzinfo=dt.UTC)) == []  # once
    system.intake.ports.relay_wakeup.set()

    async def void_shown() -> bool:
        return system.store.complaint("TS-2026-00000002") is not None

    await wait_until(void_shown, timeout_s=10, what="the void number in the tracking register")
    rows = system.store.tracking_register(100, 0)
    assert [(r["complaint_no"], r["status"]) for r in rows] == [
        ("TS-2026-00000001", "registered"),
        ("TS-2026-00000003", "registered"),
        ("TS-2026-00000002", "void"),
    ]
    assert "never given to a complaint" in rows[2]["void_reason"]
    assert register_row(rows[2])["void_reason"] == rows[2]["void_reason"]
    assert system.store.complaint_count() == 2  # a void number is no complaint
