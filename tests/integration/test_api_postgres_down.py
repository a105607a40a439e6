"""PostgreSQL down: the read API answers 503 with a reason and Retry-After, never 500; back: 200.

This test starts its OWN PostgreSQL (pgserver's binaries, its own data directory and socket) and
stops and starts it with pg_ctl; it never touches any other PostgreSQL.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from services.reporting.api import create_api
from services.reporting.health import HealthLimits
from services.reporting.main import build_store
from shared.runtime.embedded import start_postgres
from shared.runtime.settings import Settings
from tests.api_support import serving, staff_auth
from tests.support import wait_until

pytestmark = pytest.mark.integration


@dataclass
class OwnPostgres:
    data_dir: Path
    url: str

    def _pg_ctl(self, *args: str) -> None:
        import pgserver
        from pgserver import _commands

        pg_ctl: Callable[..., object] = getattr(_commands, "pg_ctl")  # made by pgserver at import, one per binary

        server = pgserver.get_server(self.data_dir)  # type: ignore[attr-defined]
        pg_ctl(list(args), pgdata=self.data_dir, user=server.system_user, timeout=60)

    def stop(self) -> None:
        self._pg_ctl("-w", "-m", "fast", "stop")

    def start(self) -> None:
        socket_dir = parse_qs(urlparse(self.url).query)["host"][0]
        self._pg_ctl("-w", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(self.data_dir / "log"), "start")


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    # Not under pytest's 0700 temp dir: as root, pgserver runs PostgreSQL as its own user.
    base = Path(tempfile.mkdtemp(prefix="aftersales-own-pg-"))
    base.chmod(0o755)
    data_dir = base / "data"
    pg = OwnPostgres(data_dir, start_postgres(data_dir))
    try:
        yield pg
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            pg.stop()
        shutil.rmtree(base, ignore_errors=True)


READS = (
    "/api/v1/reports/tracking-register",
    "/api/v1/complaints?call_id=CALL-1",
    "/api/v1/complaints/TS-2026-00000001",
    "/api/v1/reports/old-parts",
    "/api/v1/reports/kpis",
    "/api/v1/fines",
)


async def test_postgres_down_is_503_with_a_reason_and_back_is_200(own_postgres: OwnPostgres, nats_url: str) -> None:
    settings = Settings(nats_url=nats_url, database_url=own_postgres.url, namespace="t" + uuid.uuid4().hex[:10])
    api = create_api(lambda: build_store(settings), nats_url, settings.names, health_limits=HealthLimits(),
                     calendar_today=lambda: dt.date(2026, 6, 1))  # fmt: skip
    async with serving(api) as base, httpx.AsyncClient(base_url=base, timeout=30, auth=staff_auth(settings)) as http:
        assert (await http.get("/api/v1/reports/tracking-register")).status_code == 200
        assert (await http.get("/healthz")).json()["status"] == "ok"

        own_postgres.stop()
        for path in READS:
            response = await http.get(path)
            assert response.status_code == 503, (path, response.text)
            assert "PostgreSQL" in response.json()["detail"], path
            assert int(response.headers["Retry-After"]) > 0
        health = await http.get("/healthz")
        assert health.status_code == 503
        assert health.json()["status"] == "unhealthy"
        assert any("PostgreSQL" in r for r in health.json()["reasons"])

        own_postgres.start()
        back_at = time.monotonic()

        async def serving_again() -> bool:
            return all([(await http.get(path)).status_code == 200 for path in READS if "TS-" not in path])

        await wait_until(serving_again, timeout_s=60, interval_s=0.5, what="reads to recover")
        print(f"recovered {time.monotonic() - back_at:.1f} s after PostgreSQL was back")
        assert (await http.get("/api/v1/complaints/TS-2026-00000001")).status_code == 404
        assert (await http.get("/healthz")).json()["status"] == "ok"
