"""Exactly once across SIGKILL: intake, its relay and the projector, each as a real process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from psycopg.sql import SQL, Identifier

from aftersales.simulate import simulate
from services.intake.application import IntakeApplication
from services.reporting.application import ReportingStore
from shared.events.subjects import Names
from shared.runtime.settings import Settings
from shared.runtime.store import build_application
from shared.runtime.streams import ensure_streams
from tests.support import Bus, ServiceProcess, service_env, wait_until

pytestmark = pytest.mark.integration

TOTAL = 10_000


@pytest.fixture
def store(settings: Settings) -> Iterator[ReportingStore]:
    store = ReportingStore(settings.database_url, settings.names.db_schema("reporting"))
    store.open()
    yield store
    store.close()


@pytest.fixture
async def bus(settings: Settings) -> AsyncIterator[Bus]:
    bus = await Bus.connect(settings)
    await ensure_streams(bus.js, settings.names)
    yield bus
    await bus.close()


@pytest.fixture
def processes() -> Iterator[list[ServiceProcess]]:
    started: list[ServiceProcess] = []
    yield started
    for proc in started:
        proc.stop()


def run(settings: Settings, tmp_path: Path, started: list[ServiceProcess], *args: str) -> ServiceProcess:
    proc = ServiceProcess(settings, tmp_path, *args).start()
    started.append(proc)
    return proc


async def publish(settings: Settings, rate: float | None) -> None:
    await simulate(settings.nats_url, settings.names, count=TOTAL, rate=rate, duplicate_ratio=0, bad_ratio=0)


async def stream_positions(bus: Bus, service: str) -> list[int]:
    """Every `Aftersales-Position` on the service's stream, in stream order."""
    stream = bus.names.events_stream(service)
    expected = await bus.stream_count(stream)
    sub = await bus.js.pull_subscribe(
        bus.names.events_of(service),
        durable=None,
        stream=stream,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE),
    )
    positions: list[int] = []
    deadline = asyncio.get_running_loop().time() + 60
    while len(positions) < expected and asyncio.get_running_loop().time() < deadline:
        try:
            msgs = await sub.fetch(1000, timeout=2)
        except TimeoutError:
            continue
        positions += [int((m.headers or {})["Aftersales-Position"]) for m in msgs]
    await sub.unsubscribe()
    return positions


def stored_notification_ids(database_url: str, names: Names) -> list[int]:
    with psycopg.connect(database_url) as conn:
        query = SQL("SELECT notification_id FROM {0}.intake_events ORDER BY 1").format(
            Identifier(names.db_schema("intake"))
        )
        return [row[0] for row in conn.execute(query).fetchall()]


async def assert_exactly_once(store: ReportingStore, bus: Bus, database_url: str) -> None:
    async def all_visible() -> bool:
        return store.complaint_count() >= TOTAL

    await wait_until(all_visible, timeout_s=120, interval_s=0.2, what=f"{TOTAL} complaints in the read model")
    await asyncio.sleep(1.0)  # anything extra would show up now
    assert store.complaint_count() == TOTAL
    register = store.tracking_register(limit=TOTAL * 2, offset=0)
    assert len({v["complaint_no"] for v in register}) == TOTAL
    assert len({v["call_id"] for v in register}) == TOTAL
    # Every stored event published exactly once, in order. Notification ids may have holes (a
    # rolled-back insert consumes sequence values), so compare with the store itself.
    positions = await stream_positions(bus, "intake")
    assert positions == stored_notification_ids(database_url, bus.names)
    assert len(positions) == TOTAL


async def test_intake_killed_mid_stream_and_restarted(
    settings: Settings, bus: Bus, store: ReportingStore, tmp_path: Path, processes: list[ServiceProcess]
) -> None:
    run(settings, tmp_path, processes, "reporting")
    intake = run(settings, tmp_path, processes, "intake")
    publisher = asyncio.create_task(publish(settings, rate=4000))
    intake_stream = bus.names.events_stream("intake")

    async def some_recorded() -> bool:
        return await bus.stream_count(intake_stream) >= 1500

    await wait_until(some_recorded, timeout_s=60, interval_s=0.01, what="intake under way")
    intake.kill()
    at_kill = await bus.stream_count(intake_stream)
    assert at_kill < TOTAL, "intake finished before it was killed: the test proved nothing"
    await publisher
    run(settings, tmp_path, processes, "intake")
    await assert_exactly_once(store, bus, settings.database_url)


async def test_relay_killed_mid_stream_and_restarted(
    settings: Settings, bus: Bus, store: ReportingStore, tmp_path: Path, processes: list[ServiceProcess]
) -> None:
    # Record all 10,000 first, with no relay running.
    run(settings, tmp_path, processes, "intake", "--no-relay")
    await publish(settings, rate=None)
    app = build_application(IntakeApplication, settings.database_url, settings.names.db_schema("intake"))

    async def all_recorded() -> bool:
        return (app.recorder.max_notification_id() or 0) >= TOTAL

    await wait_until(all_recorded, timeout_s=120, interval_s=0.2, what="10,000 recorded")
    app.close()
    run(settings, tmp_path, processes, "reporting")
    relay = run(settings, tmp_path, processes, "intake", "--relay-only")
    intake_stream = bus.names.events_stream("intake")

    async def some_published() -> bool:
        return await bus.stream_count(intake_stream) >= 1500

    await wait_until(some_published, timeout_s=60, interval_s=0.005, what="relay under way")
    relay.kill()
    at_kill = await bus.stream_count(intake_stream)
    assert at_kill < TOTAL, "the relay finished before it was killed: the test proved nothing"
    run(settings, tmp_path, processes, "intake", "--relay-only")
    await assert_exactly_once(store, bus, settings.database_url)


async def test_projector_killed_then_read_model_dropped_and_rebuilt(
    settings: Settings, bus: Bus, store: ReportingStore, tmp_path: Path, processes: list[ServiceProcess]
) -> None:
    run(settings, tmp_path, processes, "intake")
    projector = run(settings, tmp_path, processes, "reporting")
    await publish(settings, rate=None)

    async def some_projected() -> bool:
        return store.complaint_count() >= 1500

    await wait_until(some_projected, timeout_s=60, interval_s=0.01, what="projection under way")
    projector.kill()
    assert store.complaint_count() < TOTAL, "projection finished before the kill: the test proved nothing"
    projector = run(settings, tmp_path, processes, "reporting")
    await assert_exactly_once(store, bus, settings.database_url)
    before = store.tracking_register(limit=TOTAL, offset=0)
    sample = [store.complaint(v["complaint_no"]) for v in before[:: TOTAL // 50]]

    projector.stop()
    rebuild = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "aftersales.cli", "reporting", "rebuild"],
        env=service_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rebuild.returncode == 0, rebuild.stderr
    store.close()
    fresh = ReportingStore(settings.database_url, settings.names.db_schema("reporting"))
    fresh.open()
    try:
        assert fresh.complaint_count() == 0
        run(settings, tmp_path, processes, "reporting")
        await assert_exactly_once(fresh, bus, settings.database_url)
        assert fresh.tracking_register(limit=TOTAL, offset=0) == before
        assert [fresh.complaint(v["complaint_no"]) for v in before[:: TOTAL // 50]] == sample
    finally:
        fresh.close()
