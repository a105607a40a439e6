"""An action after its deadline but before the next clock tick still has the breach's
consequences, once (INT-RELAY-4WH → FIN-RELAY-LATE and an escalation)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from services.intake.application import InboundCall, IntakeApplication
from shared.events import commands as cmd
from shared.events.telephony import ComplaintReceivedV1, decode_telephony
from shared.runtime.settings import Settings
from shared.runtime.store import build_application
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


def test_a_relay_after_the_deadline_with_no_tick_between_is_still_fined_once(app: IntakeApplication) -> None:
    no = register(app, "CALL-LATE-RELAY")  # relay due 13:00
    events = app.execute(cmd.Relay(complaint_no=no, actor=cmd.Actor("agent-017", "agent")),
                         dt.datetime(2026, 11, 23, 14, 0, tzinfo=CN), "test")  # fmt: skip
    assert events == ["DeadlineBreached", "FineLevied", "EscalationRaised", "ComplaintRelayed", "DeadlineMet"]
    app.fire_due(dt.datetime(2026, 11, 23, 15, 0, tzinfo=CN))  # the relay timer fires now: nothing new
    complaint = app.complaint_by_number(no)
    assert len(complaint.fines) == 1
    assert len(complaint.escalations) == 1
    assert complaint.deadlines["INT-RELAY-4WH"].breached_at == "2026-11-23T14:00:00+08:00"


def test_a_relay_in_time_has_no_consequences(app: IntakeApplication) -> None:
    no = register(app, "CALL-ONTIME-RELAY")
    events = app.execute(cmd.Relay(complaint_no=no, actor=cmd.Actor("agent-017", "agent")),
                         dt.datetime(2026, 11, 23, 13, 0, tzinfo=CN), "test")  # fmt: skip
    assert events == ["ComplaintRelayed", "DeadlineMet"]  # exactly at the deadline is in time
    app.fire_due(dt.datetime(2026, 11, 23, 15, 0, tzinfo=CN))
    assert app.complaint_by_number(no).fines == []
