"""Composition root of the parts service."""

from __future__ import annotations

from services.parts.application import PartsApplication
from shared.runtime.service import Ports, ServiceRuntime
from shared.runtime.settings import Settings
from shared.runtime.store import build_application

SERVICE = "parts"


def build(settings: Settings, run_relay: bool = True) -> ServiceRuntime:
    names = settings.names
    app = build_application(PartsApplication, settings.database_url, names.db_schema(SERVICE))
    return ServiceRuntime(settings, SERVICE, app, None, Ports(names), on_tick=None, run_relay=run_relay)
