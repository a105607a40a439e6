"""What the event store accepts can always be published (issue 9): the size guard in the recorder."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from services.intake.application import InboundCall, IntakeApplication
from services.intake.domain import complaint_id_for
from shared.events.commands import decode_reply
from shared.events.telephony import ComplaintReceivedV1, DoorLimits, decode_telephony
from shared.runtime.failures import EventTooLarge, PermanentFailure
from shared.runtime.settings import MAX_EVENT_BYTES, Settings
from shared.runtime.store import build_application, recorder_of
from tests.api_support import nats_credential
from tests.integration.conftest import System
from tests.integration.test_hostile_door import tick
from tests.support import body, call, wait_until

pytestmark = pytest.mark.integration

# The store's guard is tested behind the door's back: these calls would be refused at the door.
WIDE_OPEN = DoorLimits(max_message_bytes=4 * 1024 * 1024, max_field_chars=4 * 1024 * 1024)


def inbound(call_id: str, description: str) -> InboundCall:
    decoded = decode_telephony(body(call(call_id, description=description)), limits=WIDE_OPEN)
    assert isinstance(decoded, ComplaintReceivedV1)
    return InboundCall(decoded, f"test:{call_id}")


@pytest.fixture
def app(settings: Settings) -> Iterator[IntakeApplication]:
    application = build_application(IntakeApplication, settings.database_url, settings.names.db_schema("intake"))
    yield application
    application.close()


def test_an_oversize_event_is_refused_with_event_too_large_and_nothing_is_stored(app: IntakeApplication) -> None:
    with pytest.raises(EventTooLarge) as info:
        app.register([inbound("CALL-HUGE", "x" * (MAX_EVENT_BYTES + 1))])
    assert isinstance(info.value, PermanentFailure)  # a message is dead-lettered, a command refused
    assert f"the limit is {MAX_EVENT_BYTES} (AFTERSALES_MAX_EVENT_BYTES)" in str(info.value)
    assert recorder_of(app).select_events(complaint_id_for("CALL-HUGE")) == []
    assert recorder_of(app).max_notification_id() in (None, 0)
    assert len(app.register([inbound("CALL-NEXT", "漏油")]).registered) == 1


def test_the_limit_is_configurable(settings: Settings) -> None:
    small = build_application(
        IntakeApplication, settings.database_url, settings.names.db_schema("intake"), max_event_bytes=4000
    )
    try:
        with pytest.raises(EventTooLarge, match="the limit is 4000"):
            small.register([inbound("CALL-4K", "x" * 4000)])
    finally:
        small.close()


async def test_the_largest_event_the_store_accepts_is_published_and_projected(system: System) -> None:
    """A description just under the limit: stored, relayed through NATS (1 MB max payload), projected."""
    assert system.intake.app is not None
    app = system.intake.app
    assert isinstance(app, IntakeApplication)
    description = "漏" * ((MAX_EVENT_BYTES - 8_000) // 3)
    (complaint_no,) = app.register([inbound("CALL-BIG-BUT-OK", description)]).registered
    system.intake.ports.relay_wakeup.set()

    async def projected() -> bool:
        return len(system.store.complaints_for_call("CALL-BIG-BUT-OK")) == 1

    await wait_until(projected, timeout_s=30, what="the largest storable complaint in the read model")
    view = system.store.complaint(complaint_no)
    assert view is not None
    assert view["description"] == description


async def test_a_staff_command_with_an_oversize_event_is_refused_413_and_records_nothing(
    system: System, settings: Settings
) -> None:
    await tick(system, "2026-11-23T10:00:00+08:00")
    assert isinstance(system.intake.app, IntakeApplication)
    (complaint_no,) = system.intake.app.register([inbound("CALL-TO-COMPLETE", "漏油")]).registered
    before = recorder_of(system.intake.app).max_notification_id()
    command = {"command": "complete", "complaint_no": complaint_no, "actor": {"id": "agent-017", "role": "agent"},
               "fields": {"description": "x" * (MAX_EVENT_BYTES + 1)}}  # fmt: skip
    response = await system.bus.nc.request(
        system.bus.names.commands("intake"), json.dumps(command).encode(), timeout=10,
        headers=nats_credential(settings, "agent-017", "agent"),
    )  # fmt: skip
    reply = decode_reply(response.data)
    assert reply.status == 413
    assert not reply.ok
    assert reply.error is not None
    assert "AFTERSALES_MAX_EVENT_BYTES" in reply.error
    assert recorder_of(system.intake.app).max_notification_id() == before
