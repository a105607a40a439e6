"""Composition root of the intake service."""

from __future__ import annotations

from services.intake.application import IntakeApplication
from services.intake.handlers import build_router
from shared.runtime.service import Ports, ServiceRuntime
from shared.runtime.settings import Settings
from shared.runtime.store import build_application

SERVICE = "intake"


def build(settings: Settings, run_relay: bool = True, consume: bool = True) -> ServiceRuntime:
    names = settings.names
    app = build_application(IntakeApplication, settings.database_url, names.db_schema(SERVICE))
    ports = Ports(names)
    router = build_router(app, ports, names, settings.batch_size) if consume else None
    return ServiceRuntime(settings, SERVICE, app, router, ports, on_tick=None, run_relay=run_relay)
