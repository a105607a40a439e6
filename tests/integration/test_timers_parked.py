"""A timer that fails is parked with its reason and an alert; every other timer still fires on time.

Real PostgreSQL. The failing timer is one whose aggregate is not in the store (as a timer row left
behind by a restored backup would be): loading it fails on every try, so no retry can help.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY
from psycopg.sql import SQL, Identifier

from aftersales import cli
from services.intake.application import InboundCall, IntakeApplication
from shared.events.telephony import ComplaintReceivedV1, decode_telephony
from shared.runtime.settings import Settings
from shared.runtime.store import build_application, recorder_of
from tests.support import body, call

pytestmark = pytest.mark.integration
CN = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture
def app(settings: Settings) -> Iterator[IntakeApplication]:
    application = build_application(IntakeApplication, settings.database_url, settings.names.db_schema("intake"))
    yield application
    application.close()


def register(app: IntakeApplication, call_id: str) -> str:
    decoded = decode_telephony(body(call(call_id, received_at="2026-11-23T09:00:00+08:00")))
    assert isinstance(decoded, ComplaintReceivedV1)
    (complaint_no,) = app.register([InboundCall(decoded, f"test:{call_id}")]).registered
    return complaint_no


def parked_total() -> float:
    return REGISTRY.get_sample_value("aftersales_timer_parkings_total", {"service": "intake"}) or 0.0


def test_a_failing_timer_is_parked_and_the_others_fire_on_time(app: IntakeApplication) -> None:
    first, second = register(app, "CALL-TIMER-1"), register(app, "CALL-TIMER-2")  # relay due 13:00 (INT-RELAY-4WH)
    recorder = recorder_of(app)
    orphan = "orphan:INT-RELAY-4WH"
    with recorder.datastore.transaction(commit=True) as curs:
        curs.execute(
            SQL("INSERT INTO {0}.timers (timer_id, aggregate_id, kind, due_at) VALUES (%s, %s, %s, %s)").format(
                Identifier(recorder.datastore.schema)
            ),
            (orphan, uuid.uuid4(), "deadline:INT-RELAY-4WH", dt.datetime(2026, 11, 23, 10, 0, tzinfo=CN)),
        )
    before = parked_total()

    tick = dt.datetime(2026, 11, 23, 14, 0, tzinfo=CN)
    fired = app.fire_due(tick)

    assert fired == 2  # both relay deadlines, in the same tick as the failing one
    for complaint_no in (first, second):
        complaint = app.complaint_by_number(complaint_no)
        assert not complaint.deadline_open("INT-RELAY-4WH")
        assert complaint.deadline_open("INT-REPLY-8WH")  # due 17:00: not yet
    (parked,) = recorder.parked_timers()
    assert parked.timer_id == orphan
    assert "AggregateNotFound" in parked.reason
    assert parked.parked_at == tick
    assert parked_total() == before + 1

    # Parked means set aside: later ticks neither retry it nor hold back the timers due then.
    evening = dt.datetime(2026, 11, 23, 18, 0, tzinfo=CN)
    assert app.fire_due(evening) == 2  # the two reply deadlines (17:00)
    assert parked_total() == before + 1
    assert [p.timer_id for p in recorder.parked_timers()] == [orphan]

    # Released by an operator, it is tried again on the next tick (and parked again: still broken).
    assert recorder.release_timer(orphan)
    assert app.fire_due(evening + dt.timedelta(minutes=1)) == 0
    assert parked_total() == before + 2
    assert not recorder.release_timer("no-such-timer")


def test_the_operator_lists_and_releases_parked_timers(
    app: IntakeApplication, settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`aftersales timers parked` and `aftersales timers release <timer_id>`."""
    recorder = recorder_of(app)
    recorder.park_timer("t-1:INT-RELAY-4WH", "AggregateNotFound: gone", dt.datetime(2026, 11, 23, 14, 0, tzinfo=CN))
    monkeypatch.setenv("NATS_URL", settings.nats_url)  # read by Settings.from_env, not used here
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("AFTERSALES_NAMESPACE", settings.namespace)

    assert cli.main(["timers", "parked"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed == ["intake\tt-1:INT-RELAY-4WH\t2026-11-23T06:00:00+00:00\tAggregateNotFound: gone"]
    assert cli.main(["timers", "release", "t-1:INT-RELAY-4WH"]) == 0
    assert recorder.parked_timers() == []
    assert cli.main(["timers", "release", "t-1:INT-RELAY-4WH", "--service", "intake"]) == 1
