from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.events.subjects import Names
from shared.runtime.clock import encode_tick
from shared.runtime.embedded import EmbeddedNats, free_port
from shared.runtime.natsauth import write_run_credentials
from shared.runtime.settings import Settings
from shared.runtime.streams import ensure_streams
from tests.api_support import staff_auth
from tests.support import Bus, ServiceProcess, wait_until

pytestmark = pytest.mark.e2e


@dataclass
class Running:
    settings: Settings
    bus: Bus
    http: httpx.AsyncClient
    processes: dict[str, ServiceProcess]
    log_dir: Path

    async def tick(self, iso: str) -> None:
        import datetime as dt

        await self.bus.js.publish(self.settings.names.clock_tick, encode_tick(dt.datetime.fromisoformat(iso)))

    async def clock_reached(self, service: str, iso: str, timeout_s: float = 30) -> None:
        """Wait until `service` has taken the tick `iso` (its persisted clock is at or past it)."""
        import datetime as dt

        import psycopg
        from psycopg.sql import SQL, Identifier

        target = dt.datetime.fromisoformat(iso)
        query = SQL("SELECT now FROM {0}.clock WHERE id = 1").format(Identifier(self.settings.names.db_schema(service)))

        async def reached() -> bool:
            async with await psycopg.AsyncConnection.connect(self.settings.database_url, autocommit=True) as conn:
                try:
                    row = await (await conn.execute(query)).fetchone()
                except psycopg.errors.UndefinedTable:
                    return False
            return row is not None and row[0] >= target

        await wait_until(reached, timeout_s=timeout_s, interval_s=0.05, what=f"{service}'s clock at {iso}")

    async def complaint_for_call(self, call_id: str, timeout_s: float = 20) -> dict[str, Any]:
        found: list[dict[str, Any]] = []

        async def visible() -> bool:
            nonlocal found
            found = (await self.http.get("/api/v1/complaints", params={"call_id": call_id})).json()
            return bool(found)

        await wait_until(visible, timeout_s=timeout_s, what=f"complaint for {call_id}")
        return found[0]

    async def complaint(self, complaint_no: str) -> dict[str, Any]:
        response = await self.http.get(f"/api/v1/complaints/{complaint_no}")
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    async def command(self, complaint_no: str, path: str, actor: tuple[str, str], **body: Any) -> httpx.Response:
        payload = {"actor": {"id": actor[0], "role": actor[1]}, **body}
        return await self.http.post(f"/api/v1/complaints/{complaint_no}/{path}", json=payload)

    def restart(self, name: str, kill: bool = True) -> None:
        process = self.processes[name]
        if kill:
            process.kill()
        else:
            process.stop()
        process.start()


@pytest.fixture
def secured_nats(namespace: str, tmp_path: Path) -> Iterator[tuple[str, dict[str, Path]]]:
    """A NATS of this test's own as `aftersales up` runs it: one user per process with its permissions
    (shared/runtime/natsauth.py). Its URL and every user's credentials file."""
    authorization, files = write_run_credentials(tmp_path / "nats-credentials", Names(namespace))
    server = EmbeddedNats.start(tmp_path / "nats", authorization=authorization)
    yield server.url, files
    server.stop()
    violations = [
        line for line in (tmp_path / "nats" / "nats-server.log").read_text().splitlines() if "Violation" in line
    ]
    assert not violations, f"a process needs a subject its NATS user may not use: {violations[:5]}"


@pytest.fixture
def e2e_settings(secured_nats: tuple[str, dict[str, Path]], database_url: str, namespace: str) -> Settings:
    """The processes connect as their own NATS users (`ServiceProcess` picks each one's file next to
    `nats_credentials`); the test itself, and the CLI it runs, as `ops`."""
    url, files = secured_nats
    return Settings(nats_url=url, database_url=database_url, namespace=namespace, clock="external",
                    http_port=free_port(), nats_credentials=files["ops"])  # fmt: skip


@pytest.fixture
def started(e2e_settings: Settings, tmp_path: Path) -> Iterator[dict[str, ServiceProcess]]:
    port = str(e2e_settings.http_port)
    processes = {
        name: ServiceProcess(e2e_settings, tmp_path, name, AFTERSALES_HTTP_PORT=port).start()
        for name in ("intake", "reporting", "api")
    }
    yield processes
    for process in processes.values():
        process.stop()


@pytest.fixture
async def running(e2e_settings: Settings, started: dict[str, ServiceProcess], tmp_path: Path) -> AsyncIterator[Running]:
    bus = await Bus.connect(e2e_settings)
    await ensure_streams(bus.js, e2e_settings.names)
    http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{e2e_settings.http_port}", timeout=15,
                             auth=staff_auth(e2e_settings))  # fmt: skip

    async def healthy() -> bool:
        try:
            return (await http.get("/healthz")).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        await wait_until(healthy, timeout_s=30, interval_s=0.1, what="the read API")
        await asyncio.sleep(0.5)  # consumers attach
        yield Running(e2e_settings, bus, http, started, tmp_path)
    finally:
        await http.aclose()
        await bus.close()
