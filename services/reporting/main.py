"""Composition roots of reporting: the projector process and the HTTP API process."""

from __future__ import annotations

from services.reporting.application import ReportingStore
from services.reporting.handlers import build_router
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
    router = build_router(store, ports, names, settings.batch_size, settings.partitioning)
    runtime = ServiceRuntime(settings, SERVICE, None, router, ports, on_tick=None, run_relay=False)
    return runtime, store
