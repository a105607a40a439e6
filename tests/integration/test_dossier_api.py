"""The complaint page and dossier routes on real PostgreSQL and NATS: the history read from the event
stores (as `aftersales replay` reads it), bounded in time, 404 for an unknown number, 503 without stores.
"""

from __future__ import annotations

import httpx
import pytest

from aftersales.replay import read_dossier
from services.reporting.api import create_api
from services.reporting.main import build_store
from shared.runtime.settings import Settings
from shared.security.personal import mask
from tests.api_support import serving, staff_auth
from tests.integration.conftest import System
from tests.support import call, wait_until

pytestmark = pytest.mark.integration
CUSTOMER = call("X")["customer"]["name"]


async def test_the_history_is_read_from_the_stores_within_a_time_limit(settings: Settings, system: System) -> None:
    await system.bus.publish_call(call("CALL-DOSSIER-API", received_at="2026-11-23T09:15:00+08:00"))
    api = create_api(lambda: build_store(settings), settings.nats_url, settings.names,
                     read_dossier=lambda no: read_dossier(settings, no))  # fmt: skip
    async with serving(api) as base, httpx.AsyncClient(base_url=base, timeout=30, auth=staff_auth(settings)) as http:

        async def registered() -> bool:
            return bool((await http.get("/api/v1/complaints", params={"call_id": "CALL-DOSSIER-API"})).json())

        await wait_until(registered, timeout_s=20, what="the complaint in the read model")
        (complaint,) = (await http.get("/api/v1/complaints", params={"call_id": "CALL-DOSSIER-API"})).json()
        no = complaint["complaint_no"]

        page = await http.get(f"/console/complaints/{no}")
        assert page.status_code == 200, page.text
        assert "接到故障投诉（来电 CALL-DOSSIER-API" in page.text
        assert "应于 13:15 前转交技质部（INT-RELAY-4WH：4 个工作小时，001 §6.1.3）" in page.text
        assert "已复核" in page.text
        assert "test-reader" in page.text  # the principal, in the console's header
        assert mask(CUSTOMER, "name") in page.text  # a viewer sees personal data masked (PII-VIEW)
        assert CUSTOMER not in page.text
        tq = await http.get(f"/console/complaints/{no}", auth=staff_auth(settings, ("tq-003", "tq")))
        assert CUSTOMER in tq.text  # technical quality needs it in clear

        assert (await http.get("/console/complaints/TS-2099-99999999")).status_code == 404
        unknown = await http.get(f"/api/v1/complaints/{no}/dossier", params={"format": "html", "hash": "1"})
        assert unknown.status_code == 422  # the read API's rule for unknown query parameters

        api.state.dossier_timeout_s = 0.000_001
        slow = await http.get(f"/api/v1/complaints/{no}/dossier")
        assert slow.status_code == 504
        assert "took over" in slow.json()["detail"]
        api.state.dossier_timeout_s = 20.0
        again = await http.get(f"/api/v1/complaints/{no}/dossier")  # the slot of the slow one comes back
        assert again.status_code == 200, again.text


async def test_without_the_event_stores_the_page_says_so(settings: Settings) -> None:
    api = create_api(lambda: build_store(settings), None, settings.names)
    async with serving(api) as base, httpx.AsyncClient(base_url=base, timeout=30, auth=staff_auth(settings)) as http:
        answer = await http.get("/api/v1/complaints/TS-2026-00000001/dossier")
    assert answer.status_code == 503
    assert "event stores" in answer.json()["detail"]
