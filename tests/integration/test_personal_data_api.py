"""PII-VIEW over HTTP (docs/rules.md §11): the read API masks a customer's data for every role that
does not need it, shows it in clear to tq and the engineer, and logs each clear read with who read
which complaint. The reader is whatever `current_reader` gives (the authenticated principal in
production); here FastAPI's dependency override stands in for the credential."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import pytest
from structlog.testing import capture_logs

from services.reporting.api import create_api
from services.reporting.main import build_store
from services.reporting.privacy import current_reader
from shared.runtime.settings import Settings
from tests.api_support import serving, staff_auth
from tests.integration.conftest import System
from tests.support import call, wait_until

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Staff:
    id: str
    role: str


@pytest.fixture
async def reading(system: System, settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Callable[..., None]]]:
    api = create_api(lambda: build_store(settings), None, settings.names)

    def as_reader(reader: Staff | None) -> None:
        api.dependency_overrides[current_reader] = lambda: reader

    await system.bus.publish_call(call("pii-http-1", customer={"name": "王小明", "phone": "13800000001"}))

    async def projected() -> bool:
        return bool(system.store.complaints_for_call("pii-http-1"))

    await wait_until(projected, what="the complaint in the read model")
    async with serving(api) as base, httpx.AsyncClient(base_url=base, timeout=30, auth=staff_auth(settings)) as http:
        yield http, as_reader


async def test_masked_for_the_agent_and_nobody_clear_for_tq_and_the_engineer_with_the_read_logged(
    reading: tuple[httpx.AsyncClient, Callable[..., None]],
) -> None:
    http, as_reader = reading
    (found,) = (await http.get("/api/v1/complaints", params={"call_id": "pii-http-1"})).json()
    no = found["complaint_no"]
    assert found["customer"] == {"name": "王**", "phone": "138****0001"}  # a viewer (StaffAuth's reader): masked

    for role in ("agent", "branch_manager", "ops", "viewer"):
        as_reader(Staff(f"{role}-1", role))
        with capture_logs() as logs:
            view = (await http.get(f"/api/v1/complaints/{no}")).json()
            rows = (await http.get("/api/v1/reports/tracking-register")).json()
        assert view["customer"] == {"name": "王**", "phone": "138****0001"}, role
        assert view["site"]["address"] == "成…"
        assert [(r["customer"], r["phone"]) for r in rows] == [("王**", "138****0001")]
        assert [e for e in logs if e["event"] == "personal_data_read"] == []

    for role in ("tq", "engineer"):
        as_reader(Staff(f"{role}-7", role))
        with capture_logs() as logs:
            view = (await http.get(f"/api/v1/complaints/{no}")).json()
            csv_text = (await http.get("/api/v1/reports/tracking-register", headers={"accept": "text/csv"})).text
        assert view["customer"] == {"name": "王小明", "phone": "13800000001"}
        assert view["site"]["address"] == "成都市"
        assert "王小明" in csv_text
        assert "13800000001" in csv_text
        reads = [e for e in logs if e["event"] == "personal_data_read"]
        assert [(e["reader"], e["role"], e["route"], e["complaints"]) for e in reads] == [
            (f"{role}-7", role, "complaint", [no]),
            (f"{role}-7", role, "tracking-register", [no]),
        ]
