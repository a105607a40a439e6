"""/healthz tells the truth: `degraded` with its reasons, and the same as gauges on /metrics."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Sequence

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from psycopg.sql import SQL, Identifier

from services.intake.main import build as build_intake
from services.reporting.api import create_api
from services.reporting.health import HealthLimits
from services.reporting.main import build_store
from shared.runtime.service import consumer_config
from shared.runtime.settings import Settings
from shared.runtime.streams import ensure_streams
from tests.api_support import serving
from tests.support import Bus, call, wait_until

pytestmark = pytest.mark.integration


async def health_of(http: httpx.AsyncClient) -> dict[str, object]:
    response = await http.get("/healthz")
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def reasons_of(health: dict[str, object]) -> list[str]:
    reasons = health["reasons"]
    assert isinstance(reasons, list)
    return [str(r) for r in reasons]


async def metric(http: httpx.AsyncClient, name: str) -> dict[str, float]:
    """Samples of one metric on /metrics, by their label text."""
    text = (await http.get("/metrics")).text
    samples = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            labels, _, value = line.rpartition(" ")
            samples[labels[len(name) :]] = float(value)
    return samples


def MIDSUMMER() -> dt.date:
    return dt.date(2026, 6, 1)


def api_for(settings: Settings, limits: HealthLimits) -> FastAPI:
    return create_api(lambda: build_store(settings), settings.nats_url, settings.names, health_limits=limits,
                      calendar_today=MIDSUMMER)  # fmt: skip


@pytest.fixture
async def bus(settings: Settings) -> AsyncIterator[Bus]:
    bus = await Bus.connect(settings)
    await ensure_streams(bus.js, settings.names)
    yield bus
    await bus.close()


async def test_consumer_lag_over_the_threshold_is_degraded(settings: Settings, bus: Bus) -> None:
    """Reporting's consumer on intake's stream exists but does not run; intake publishes 5 events."""
    names = settings.names
    durable = names.durable("reporting-intake")
    await bus.js.add_consumer(names.events_stream("intake"), consumer_config(durable))
    async with serving(api_for(settings, HealthLimits(max_lag=3))) as base, httpx.AsyncClient(base_url=base) as http:
        assert (await health_of(http))["status"] == "ok"
        for n in range(5):
            await bus.js.publish(names.event("intake", "ComplaintReceived"), json.dumps({"n": n}).encode())
        health = await health_of(http)
        assert health["status"] == "degraded"
        stream = names.events_stream("intake")
        assert f"consumer {durable} on {stream} is 5 messages behind (over 3)" in reasons_of(health)
        lag = await metric(http, "aftersales_consumer_lag")
        assert lag[f'{{consumer="{durable}",stream="{stream}"}}'] == 5.0
        assert (await metric(http, "aftersales_health_degraded"))[""] == 1.0


async def test_dead_letters_growing_is_degraded_then_ok_after_the_window(settings: Settings, bus: Bus) -> None:
    names = settings.names
    await bus.js.publish(names.deadletter("intake"), b"{}")  # before the API starts: not growth
    limits = HealthLimits(deadletter_window_s=2.0)
    async with serving(api_for(settings, limits)) as base, httpx.AsyncClient(base_url=base) as http:
        assert (await health_of(http))["status"] == "ok"
        await bus.js.publish(names.deadletter("intake"), b"{}")
        await bus.js.publish(names.deadletter("intake"), b"{}")
        await bus.js.publish(names.deadletter("telephony"), b"{}")
        health = await health_of(http)
        assert health["status"] == "degraded"
        assert reasons_of(health) == ["3 dead letters added in the last 2 s or more (intake: 2, telephony: 1)"]
        assert (await metric(http, "aftersales_deadletters_recent"))['{source="intake"}'] == 2.0

        async def quiet_again() -> bool:
            return (await health_of(http))["status"] == "ok"

        await wait_until(quiet_again, timeout_s=20, interval_s=0.3, what="the window to pass")


async def test_a_parked_timer_is_degraded_with_its_reason(settings: Settings, bus: Bus) -> None:
    """The row another service writes when it parks a timer (shape: shared/runtime/failures.py)."""
    schema = settings.names.db_schema("dispatch")
    async with serving(api_for(settings, HealthLimits())) as base, httpx.AsyncClient(base_url=base) as http:
        assert (await health_of(http))["status"] == "ok"
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {0}").format(Identifier(schema)))
            conn.execute(
                SQL(
                    "CREATE TABLE IF NOT EXISTS {0}.parked_timers (timer_id text PRIMARY KEY, reason text NOT NULL,"
                    " parked_at timestamptz NOT NULL)"
                ).format(Identifier(schema))
            )
            assert (await health_of(http))["status"] == "ok"  # the table alone is no reason
            conn.execute(
                SQL("INSERT INTO {0}.parked_timers VALUES (%s, %s, %s)").format(Identifier(schema)),
                ("audit-5wd:42", "EventTooLarge: 2 MB", "2027-02-09T09:00:00+08:00"),
            )
        health = await health_of(http)
        assert health["status"] == "degraded"
        assert reasons_of(health) == [
            f"1 timers parked in {schema} (oldest since 2027-02-09T01:00:00+00:00: EventTooLarge: 2 MB)"
        ]
        assert (await metric(http, "aftersales_parked_timers"))[f'{{schema="{schema}"}}'] == 1.0


async def test_an_added_check_is_a_reason(settings: Settings, bus: Bus) -> None:
    """The lead's pluggable checks, e.g. the provisional calendar (docs/rules.md §9)."""
    calendar_is_provisional = [False]

    async def provisional_calendar() -> Sequence[str]:
        return ["provisional calendar in use for 2028"] if calendar_is_provisional[0] else []

    api = api_for(settings, HealthLimits())
    api.state.health.add(provisional_calendar)
    async with serving(api) as base, httpx.AsyncClient(base_url=base) as http:
        assert (await health_of(http))["status"] == "ok"
        calendar_is_provisional[0] = True
        health = await health_of(http)
        assert health["status"] == "degraded"
        assert reasons_of(health) == ["provisional calendar in use for 2028"]
        assert (await metric(http, "aftersales_health_reasons"))[""] == 1.0


async def test_relay_lag_is_degraded_while_the_relay_is_stopped(settings: Settings, bus: Bus) -> None:
    """Intake stores complaints but its relay does not run: stored notification ids run ahead."""
    intake = build_intake(settings, run_relay=False)
    await intake.start()
    try:
        async with (
            serving(api_for(settings, HealthLimits(max_lag=1))) as base,
            httpx.AsyncClient(base_url=base) as http,
        ):
            assert (await health_of(http))["status"] == "ok"
            for n in range(3):
                await bus.publish_call(call(f"CALL-relay-lag-{n}"))
            behind = "the relay of intake is 3 events behind its store (over 1)"

            async def relay_behind() -> bool:
                return behind in reasons_of(await health_of(http))

            await wait_until(relay_behind, timeout_s=30, interval_s=0.2, what="the relay lag reason")
            assert (await metric(http, "aftersales_relay_lag"))['{service="intake"}'] == 3.0
    finally:
        await intake.stop()
