"""Schema creation next to a busy service: no table locks once the schema exists, so no deadlock."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from services.intake.application import IntakeApplication
from shared.runtime.settings import Settings
from shared.runtime.store import build_application

pytestmark = pytest.mark.integration


async def test_a_process_starting_next_to_an_insert_in_flight_neither_waits_nor_deadlocks(settings: Settings) -> None:
    schema = settings.names.db_schema("intake")
    build_application(IntakeApplication, settings.database_url, schema).close()
    with psycopg.connect(settings.database_url) as busy:
        # What a running service's insert holds and then takes: `timers` first, the events table next.
        busy.execute(SQL("LOCK TABLE {0}.timers IN ROW EXCLUSIVE MODE").format(Identifier(schema)))
        starting = asyncio.create_task(
            asyncio.to_thread(build_application, IntakeApplication, settings.database_url, schema)
        )
        done, _ = await asyncio.wait({starting}, timeout=10)
        assert starting in done, "the starting process waited for the busy one's table lock"
        starting.result().close()
        busy.execute("SET LOCAL lock_timeout = '5s'")
        busy.execute(SQL("LOCK TABLE {0}.intake_events IN EXCLUSIVE MODE").format(Identifier(schema)))
        busy.commit()
