"""Composition root of the parts service: builds the adapters (the PostgreSQL event store, NATS ports,
clock, leases) from the settings and wires them into the application and its handlers."""

from __future__ import annotations

import asyncio
import datetime as dt

from services.parts.application import PartsApplication
from services.parts.handlers import build_router
from shared.runtime.checkpoints import signer_for
from shared.runtime.clock import ServiceClock
from shared.runtime.leases import keeper, ownership
from shared.runtime.service import Ports, ServiceRuntime
from shared.runtime.settings import Settings
from shared.runtime.store import PostgresStore
from shared.security.authn import authenticator_for

SERVICE = "parts"


def build(settings: Settings, run_relay: bool = True) -> ServiceRuntime:
    names = settings.names
    store = PostgresStore(SERVICE, settings.database_url, names.db_schema(SERVICE),
                          max_event_bytes=settings.max_event_bytes, signer=signer_for(settings))  # fmt: skip
    app = PartsApplication(store)
    recorder = store.recorder
    ports = Ports(
        names,
        ServiceClock(settings.clock, recorder.load_clock, recorder.save_clock),
        authenticator=authenticator_for(settings),
    )

    async def on_tick(now: dt.datetime) -> None:
        if await asyncio.to_thread(app.fire_due, now):
            ports.relay_wakeup.set()

    partitioning, leases = settings.partitioning, None
    if settings.dynamic_partitions:  # fenced leases (shared/runtime/leases.py)
        partitioning, leases = ownership(settings.database_url, names.db_schema(SERVICE), settings.partition_count,
                                         settings.lease_ttl_s)  # fmt: skip
        recorder.fences.update(leases.fences(("dispatch",)))
    router = build_router(app, ports, names, settings.batch_size, partitioning)
    leader = partitioning.leader  # relay, timers and commands: partition 0's owner (shared/runtime/partitions.py)
    runtime = ServiceRuntime(settings, SERVICE, app, router, ports, on_tick=on_tick if leader else None,
                             run_relay=run_relay and leader)  # fmt: skip
    if leases is not None:
        runtime.start_hooks.append(keeper(leases))
    return runtime
