"""Composition root of the intake service: builds the adapters (the PostgreSQL event store, NATS ports,
clock, leases) from the settings and wires them into the application and its handlers."""

from __future__ import annotations

import asyncio
import datetime as dt

from services.intake.application import IntakeApplication
from services.intake.handlers import build_router
from shared.runtime.calendar_feed import CalendarFeed, clock_today
from shared.runtime.checkpoints import signer_for
from shared.runtime.clock import ServiceClock
from shared.runtime.service import Ports, ServiceRuntime
from shared.runtime.settings import Settings
from shared.runtime.store import PostgresStore
from shared.security.authn import authenticator_for
from shared.security.keystore import PostgresKeyStore

SERVICE = "intake"


def build(settings: Settings, run_relay: bool = True, consume: bool = True) -> ServiceRuntime:
    names = settings.names
    store = PostgresStore(SERVICE, settings.database_url, names.db_schema(SERVICE),
                          max_event_bytes=settings.max_event_bytes, signer=signer_for(settings))  # fmt: skip
    app = IntakeApplication(store)
    recorder = store.recorder
    ports = Ports(
        names,
        ServiceClock(settings.clock, recorder.load_clock, recorder.save_clock),
        settings.door_limits,
        authenticator_for(settings),
    )
    if consume:  # PII-SEAL (docs/rules.md §11): the customers' keys, a key table beside the stores
        keys = PostgresKeyStore(settings.database_url, names.db_schema("pii"))
        keys.open()
        app.use_keys(keys)
        app.void_lost_numbers(dt.datetime.now(dt.UTC))  # INT-REGISTER: no silent gaps

    async def on_tick(now: dt.datetime) -> None:
        if await asyncio.to_thread(app.fire_due, now):
            ports.relay_wakeup.set()

    router = build_router(app, ports, names, settings.batch_size) if consume else None
    runtime = ServiceRuntime(settings, SERVICE, app, router, ports, on_tick=on_tick if consume else None,
                             run_relay=run_relay)  # fmt: skip
    if consume:  # docs/rules.md §9: decide on the calendars ops published
        feed = CalendarFeed(SERVICE, names, app.calendars, app.calendar_published, clock_today(ports.clock))
        runtime.start_hooks.append(feed.start)
    return runtime
