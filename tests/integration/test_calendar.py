"""The working calendar outlives 2026 (docs/rules.md §9 Calendar; INT-RELAY-4WH, INT-REPLY-8WH):
a provisional 2027 never stalls registration, `aftersales calendar publish` reaches every service, and
replay re-runs each decision on the calendar it recorded. Real NATS JetStream and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from aftersales.replay import History
from services.dispatch.main import build as build_dispatch
from services.intake.domain import complaint_id_for
from services.reporting.api import create_api
from services.reporting.main import build_store
from shared.events.commands import decode_reply
from shared.runtime.clock import encode_tick
from shared.runtime.service import ServiceRuntime
from shared.runtime.settings import Settings
from tests.api_support import nats_credential, serving, staff_auth
from tests.integration.conftest import System
from tests.support import call, service_env, wait_until

pytestmark = pytest.mark.integration

NEW_YEARS_EVE = "2026-12-31T16:00:00+08:00"
# A test calendar for 2027 (the real one is not announced yet): 4 January is made a day off, so a
# relay due on the provisional calendar at 2027-01-04 11:30 moves to 2027-01-05 11:30.
CALENDAR_2027 = """
year = 2027
notice = "test notice"
holidays = ["2027-01-01..2027-01-04", "2027-02-05..2027-02-11", "2027-04-05", "2027-05-01..2027-05-05",
            "2027-06-09", "2027-09-15", "2027-10-01..2027-10-07"]
workdays = ["2027-02-20", "2027-10-09"]
"""


@pytest.fixture
async def dispatch(settings: Settings) -> AsyncIterator[ServiceRuntime]:
    runtime = build_dispatch(settings)
    await runtime.start()
    yield runtime
    await runtime.stop()


def relay_decision(system: System, call_id: str) -> dict[str, Any]:
    app = system.intake.app
    assert app is not None
    [stored] = app.recorder.select_events(complaint_id_for(call_id), limit=1)
    received: Any = app.mapper.to_domain_event(stored)
    decision: dict[str, Any] = next(d for d in received.decisions if d["rule"] == "INT-RELAY-4WH")
    return decision


async def test_a_batch_across_new_year_registers_at_once_with_2027_provisional(system: System) -> None:
    await system.bus.js.publish(system.bus.names.clock_tick, encode_tick(dt.datetime.fromisoformat(NEW_YEARS_EVE)))
    calls = [call(f"CALL-NYE-{n:03d}", received_at="2026-12-31T09:00:00+08:00") for n in range(499)]
    calls.insert(250, call("CALL-NYE-LATE", received_at=NEW_YEARS_EVE))
    for message in calls:
        await system.bus.publish_call(message)

    async def all_visible() -> bool:
        return system.store.complaint_count() == 500

    await wait_until(all_visible, timeout_s=60, what="500 complaints in the read model")
    decision = relay_decision(system, "CALL-NYE-LATE")
    assert decision["outputs"]["due_at"] == "2027-01-04T11:30:00+08:00"  # 1 Jan holiday, then the weekend
    assert decision["outputs"]["calendar_provisional"] == [2027]
    assert decision["inputs"]["calendar"]["2027"].startswith("2027-provisional-")
    earlier = relay_decision(system, "CALL-NYE-000")
    assert earlier["outputs"]["due_at"] == "2026-12-31T13:00:00+08:00"
    assert "calendar_provisional" not in earlier["outputs"]


async def publish_file(settings: Settings, tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "2027.toml"
    path.write_text(text, encoding="utf-8")
    argv = [sys.executable, "-m", "aftersales.cli", "calendar", "publish", str(path), "--actor", "ops-001"]
    token = staff_auth(settings).token("ops-001", "ops")
    env = service_env(settings, AFTERSALES_TOKEN=token)
    return await asyncio.to_thread(subprocess.run, argv, env=env, capture_output=True, text=True, timeout=60)


async def test_publishing_2027_reaches_every_service_and_replay_still_reproduces_the_provisional_decisions(
    system: System, dispatch: ServiceRuntime, settings: Settings, tmp_path: Path
) -> None:
    await system.bus.js.publish(system.bus.names.clock_tick, encode_tick(dt.datetime.fromisoformat(NEW_YEARS_EVE)))
    await system.bus.publish_call(call("CALL-BEFORE", received_at=NEW_YEARS_EVE))

    async def registered() -> bool:
        return system.store.complaint_count() == 1

    await wait_until(registered, what="the first complaint")
    assert relay_decision(system, "CALL-BEFORE")["outputs"]["calendar_provisional"] == [2027]

    published = await publish_file(settings, tmp_path, CALENDAR_2027)
    assert published.returncode == 0, published.stderr
    assert "CalendarPublished" in published.stdout
    again = await publish_file(settings, tmp_path, CALENDAR_2027)
    assert again.returncode == 0, again.stderr
    assert "nothing (already published)" in again.stdout

    dispatch_app: Any = dispatch.app

    async def dispatch_follows() -> bool:
        known = dispatch_app.calendars.known(2027)
        return known is not None and known.source == "published"

    await wait_until(dispatch_follows, what="dispatch to follow the published 2027")
    assert not dispatch_app.policy.calendar.is_workday(dt.date(2027, 1, 4))

    # A service started after the publication has it before it consumes anything.
    late = build_dispatch(settings)
    await late.start()
    try:
        late_app: Any = late.app
        assert late_app.calendars.known(2027).source == "published"
    finally:
        await late.stop()

    await system.bus.publish_call(call("CALL-AFTER", received_at=NEW_YEARS_EVE))

    async def both() -> bool:
        return system.store.complaint_count() == 2

    await wait_until(both, what="the second complaint")
    after = relay_decision(system, "CALL-AFTER")
    assert after["outputs"]["due_at"] == "2027-01-05T11:30:00+08:00"
    assert "calendar_provisional" not in after["outputs"]
    assert after["inputs"]["calendar"]["2027"].startswith("2027-published-")

    history = History(settings)
    try:
        steps = list(history.steps())
    finally:
        history.close()
    relays = [c for s in steps for c in s.checks if c.rule == "INT-RELAY-4WH"]
    assert len(relays) == 2
    assert all(step.reproduced for step in steps), [c for s in steps for c in s.checks if not c.reproduced]
    published_events = [s for s in steps if s.envelope.type == "CalendarPublished"]
    assert len(published_events) == 1
    assert published_events[0].envelope.data["published_by"] == "ops-001"
    # The read model does not keep the calendar waiting for a complaint it will never see.
    with psycopg.connect(settings.database_url) as conn:
        parked = conn.execute(
            SQL("SELECT count(*) FROM {0}.pending").format(Identifier(system.store.schema))
        ).fetchone()
    assert parked == (0,)


async def test_only_ops_publish_and_a_contradictory_year_is_refused(system: System, settings: Settings) -> None:
    subject = settings.names.commands("calendar")

    async def send(**command: Any) -> Any:
        message = {"command": "publish_calendar", "year": 2027, "holidays": ["2027-01-01"], **command}
        headers = nats_credential(settings, command["actor"]["id"], command["actor"]["role"])
        reply = await system.bus.nc.request(subject, msgspec.json.encode(message), timeout=10, headers=headers)
        return decode_reply(reply.data)

    await system.bus.js.publish(system.bus.names.clock_tick, encode_tick(dt.datetime.fromisoformat(NEW_YEARS_EVE)))
    replies: list[Any] = []

    async def clock_started() -> bool:  # 503 until the external clock's first tick has arrived
        replies.append(await send(actor={"id": "agent-017", "role": "agent"}))
        return bool(replies[-1].status != 503)

    await wait_until(clock_started, what="the intake clock to start")
    agent = replies[-1]
    assert (agent.status, "ops" in (agent.error or "")) == (403, True)
    monday = await send(actor={"id": "ops-001", "role": "ops"}, workdays=["2027-02-22"])
    assert monday.status == 409
    assert "weekend" in (monday.error or "")


async def test_healthz_warns_of_a_provisional_year_until_it_is_published(
    system: System, settings: Settings, tmp_path: Path
) -> None:
    """From 60 days before 2027 starts, /healthz says 2027 is provisional; publishing ends it."""
    api = create_api(lambda: build_store(settings), settings.nats_url, settings.names,
                     calendar_today=lambda: dt.date(2026, 11, 23))  # fmt: skip
    async with serving(api) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        calendar_reasons: list[str] = []

        async def reasons_are(expected: int) -> bool:
            health = (await http.get("/healthz")).json()
            calendar_reasons[:] = [r for r in health.get("reasons", []) if "working calendar" in r]
            return len(calendar_reasons) == expected

        await wait_until(lambda: reasons_are(1), what="the provisional 2027 reason")
        assert "2027" in calendar_reasons[0]
        assert "aftersales calendar publish 2027.toml" in calendar_reasons[0]
        metrics = (await http.get("/metrics")).text
        assert "aftersales_health_degraded 1.0" in metrics

        await system.bus.js.publish(system.bus.names.clock_tick, encode_tick(dt.datetime.fromisoformat(NEW_YEARS_EVE)))
        published = await publish_file(settings, tmp_path, CALENDAR_2027)
        assert published.returncode == 0, published.stderr
        await wait_until(lambda: reasons_are(0), what="the reason to go once 2027 is published")
