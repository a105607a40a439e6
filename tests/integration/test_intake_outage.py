"""A database outage for everyone gives up nothing (failures are classified: an outage is the
infrastructure's, not one call's): calls wait, nak'ed, and are registered once PostgreSQL is back,
with none dead-lettered, however many deliveries the outage took. Its own PostgreSQL, stopped and
started by the test; real NATS JetStream."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from functools import partial
from pathlib import Path

import nats.errors
import pytest
from eventsourcing.persistence import PersistenceError
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from prometheus_client import REGISTRY

from services.intake import handlers
from services.intake.domain import complaint_id_for
from services.intake.main import build as build_intake
from shared.runtime.clock import encode_tick
from shared.runtime.embedded import EmbeddedPostgres, EmbeddedServerError
from shared.runtime.failures import MAX_DELIVERIES
from shared.runtime.settings import Settings
from tests.support import Bus, call, wait_until

pytestmark = pytest.mark.integration

NOW = "2026-12-31T16:00:00+08:00"


async def test_an_outage_longer_than_max_deliveries_dead_letters_no_call(
    tmp_path: Path, nats_url: str, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handlers, "RETRY_BASE_S", 0.05)
    monkeypatch.setattr(handlers, "OUTAGE_RETRY_CAP_S", 0.5)
    monkeypatch.setattr(handlers, "WORKING_DATABASE_S", 1.0)
    pg = EmbeddedPostgres.start(tmp_path / "pg")
    settings = Settings(nats_url=nats_url, database_url=pg.url, namespace=namespace, clock="external")
    intake = build_intake(settings)
    await intake.start()
    bus = await Bus.connect(settings)
    try:
        app = intake.app
        assert app is not None

        async def registered(call_id: str) -> bool:
            try:
                return bool(await asyncio.to_thread(app.recorder.select_events, complaint_id_for(call_id), limit=1))
            except PersistenceError:
                return False

        await bus.js.publish(settings.names.clock_tick, encode_tick(dt.datetime.fromisoformat(NOW)))
        await bus.publish_call(call("CALL-OUTAGE-0", received_at=NOW))
        await wait_until(lambda: registered("CALL-OUTAGE-0"), timeout_s=30, what="the first call")

        pg.down("fast")
        for n in range(1, 4):
            await bus.publish_call(call(f"CALL-OUTAGE-{n}", received_at=NOW))
        waited = _waiting()

        async def past_the_limit() -> bool:  # a call delivered MAX_DELIVERIES times, and not given up
            return _waiting() > waited

        # Each delivery waits up to the store's connection timeout (10 s) before it fails.
        await wait_until(past_the_limit, timeout_s=150, interval_s=0.2,
                         what=f"{MAX_DELIVERIES} deliveries during the outage")  # fmt: skip
        assert _gave_up() == 0
        pg.up()
        for n in range(1, 4):
            await wait_until(partial(registered, f"CALL-OUTAGE-{n}"), timeout_s=60, what=f"call {n} after the outage")
        assert await _dead_letters(bus, settings) == [], "nothing is dead-lettered for an outage"
    finally:
        await bus.close()
        await intake.stop()
        with contextlib.suppress(EmbeddedServerError):
            pg.down("fast")


def _waiting() -> float:
    return REGISTRY.get_sample_value("aftersales_intake_complaints_total", {"outcome": "waiting_for_database"}) or 0.0


def _gave_up() -> float:
    return REGISTRY.get_sample_value("aftersales_intake_complaints_total", {"outcome": "gave_up"}) or 0.0


async def _dead_letters(bus: Bus, settings: Settings) -> list[str]:
    """The reasons of every dead letter of this namespace."""
    names = settings.names
    try:
        sub = await bus.js.pull_subscribe(names.deadletter_all, durable=None, stream=names.deadletter_stream,
                                          config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL))  # fmt: skip
    except NotFoundError:
        return []
    try:
        letters = await sub.fetch(100, timeout=2)
    except nats.errors.TimeoutError:
        return []
    finally:
        await sub.unsubscribe()
    return [json.loads(m.data)["reason"] for m in letters]
