"""Composition roots of reporting: the projector process and the HTTP API process."""

from __future__ import annotations

from services.reporting.application import ReportingStore
from services.reporting.handlers import UPSTREAMS, build_router
from shared.runtime.leases import keeper, ownership
from shared.runtime.service import Ports, ServiceRuntime
from shared.runtime.settings import Settings

SERVICE = "reporting"


def build_store(settings: Settings) -> ReportingStore:
    return ReportingStore(settings.database_url, settings.names.db_schema(SERVICE))


def build(settings: Settings) -> tuple[ServiceRuntime, ReportingStore]:
    names = settings.names
    store = build_store(settings)
    store.open()
    ports = Ports(names)
    partitioning, leases = settings.partitioning, None
    if settings.dynamic_partitions:  # fenced leases (shared/runtime/leases.py)
        partitioning, leases = ownership(settings.database_url, store.schema, settings.partition_count,
                                         settings.lease_ttl_s)  # fmt: skip
        store.fences.update(leases.fences(UPSTREAMS))
    router = build_router(store, ports, names, settings.batch_size, partitioning)
    runtime = ServiceRuntime(settings, SERVICE, None, router, ports, on_tick=None, run_relay=False)
    if leases is not None:
        runtime.start_hooks.append(keeper(leases))
    return runtime, store
