from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from services.intake.application import IntakeApplication
from services.intake.main import build as build_intake
from services.reporting.application import ReportingStore
from services.reporting.main import build as build_reporting
from shared.runtime.service import ServiceRuntime
from shared.runtime.settings import Settings
from tests.support import Bus

pytestmark = pytest.mark.integration


@dataclass
class System:
    intake: ServiceRuntime
    reporting: ServiceRuntime
    store: ReportingStore
    bus: Bus

    @property
    def intake_app(self) -> IntakeApplication:
        """Intake's application, as its composition root built it."""
        app = self.intake.app
        if not isinstance(app, IntakeApplication):
            raise TypeError(f"intake runs {type(app).__name__}, not IntakeApplication")
        return app


@pytest.fixture
async def bus(settings: Settings) -> AsyncIterator[Bus]:
    bus = await Bus.connect(settings)
    yield bus
    await bus.close()


@pytest.fixture
async def system(settings: Settings, bus: Bus) -> AsyncIterator[System]:
    """Intake and reporting wired by their own composition roots, in this process."""
    intake = build_intake(settings)
    reporting, store = build_reporting(settings)
    await intake.start()
    await reporting.start()
    yield System(intake, reporting, store, bus)
    await reporting.stop()
    await intake.stop()
    store.close()
