"""Browser tests: the console in Debian's chromium (Playwright), on a running system fed a simulated week.

- `console`: one system for the whole session — `aftersales run intake|dispatch|parts|reporting|api`
  as child processes on the session's real NATS JetStream and PostgreSQL, external clock, driven
  through the simulated week of aftersales/week.py (Mon 2026-11-23 → Fri 2026-11-27 16:00).
- `browser`: one headless chromium for the session; skipped with the reason when chromium or
  Playwright is genuinely absent (`./dev test` installs both).
- `console_page`: a fresh page whose every request is recorded; anything outside the server's
  origin is aborted and fails the test (`console_page.guard.assert_same_origin()`, also at teardown).
Every test under tests/browser is marked `browser`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from aftersales import browser as chromium
from aftersales.week import StaffTokens, Week, WeekDriver, run_week
from shared.runtime.embedded import free_port
from shared.runtime.settings import Settings
from shared.runtime.streams import ensure_streams
from tests.support import Bus, ServiceProcess, wait_until

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

SERVICES = ("intake", "dispatch", "parts", "reporting", "api")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@dataclass
class ConsoleSystem:
    settings: Settings
    base_url: str
    week: Week
    processes: dict[str, ServiceProcess]
    http: httpx.AsyncClient
    auth: StaffTokens
    """API tokens: of the person a command names, else of a read-only reader (viewer)."""

    def driver(self) -> AbstractAsyncContextManager[WeekDriver]:
        """A driver for steps a test adds to the week (ticks, calls, commands), as the week made them."""
        return WeekDriver(self.settings.nats_url, self.settings.database_url, self.settings.names, self.base_url,
                          auth=self.auth)  # fmt: skip

    async def get(self, path: str, **params: Any) -> Any:
        response = await self.http.get(path, params=params)
        response.raise_for_status()
        return response.json()

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{p.log_tail()}" for name, p in self.processes.items())


@pytest.fixture(scope="session")
def console_settings(nats_url: str, database_url: str) -> Settings:
    return Settings(nats_url=nats_url, database_url=database_url, namespace="b" + uuid.uuid4().hex[:10],
                    clock="external", http_port=free_port())  # fmt: skip


@pytest.fixture(scope="session")
def console_processes(
    console_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ServiceProcess]]:
    log_dir = tmp_path_factory.mktemp("console-logs")
    port = str(console_settings.http_port)
    processes = {
        name: ServiceProcess(console_settings, log_dir, name, AFTERSALES_HTTP_PORT=port).start() for name in SERVICES
    }
    yield processes
    for process in processes.values():
        process.stop()


@pytest.fixture(scope="session")
async def console(
    console_settings: Settings, console_processes: dict[str, ServiceProcess]
) -> AsyncIterator[ConsoleSystem]:
    """The running system after the simulated week."""
    base_url = f"http://127.0.0.1:{console_settings.http_port}"
    bus = await Bus.connect(console_settings)
    await ensure_streams(bus.js, console_settings.names)
    await bus.close()
    auth = StaffTokens(console_settings.database_url, console_settings.names)
    http = httpx.AsyncClient(base_url=base_url, timeout=15, auth=auth)

    async def healthy() -> bool:
        try:
            return (await http.get("/healthz")).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        await wait_until(healthy, timeout_s=60, interval_s=0.2, what="the API")
        await asyncio.sleep(0.5)  # consumers attach
        system = ConsoleSystem(console_settings, base_url, Week(), console_processes, http, auth)
        try:
            system.week = await run_week(console_settings.nats_url, console_settings.database_url,
                                         console_settings.names, base_url, auth=auth)  # fmt: skip
        except Exception as exc:
            raise AssertionError(f"the simulated week failed: {exc!r}\n{system.logs()}") from exc
        yield system
    finally:
        await http.aclose()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    reason = chromium.missing()
    if reason:
        pytest.skip(f"browser tests need chromium and Playwright: {reason}")
    async with chromium.chromium() as instance:
        yield instance


@dataclass
class ConsolePage:
    page: Page
    guard: chromium.OriginGuard
    base_url: str

    async def until(self, function: str, arg: Any = None, timeout_ms: float = 15_000) -> None:
        """Poll the JavaScript `function` (of `arg`) until it returns truthy. Not `wait_for_function`: the
        console's Content-Security-Policy forbids the eval that one uses."""
        deadline = time.monotonic() + timeout_ms / 1000
        while not await self.page.evaluate(function, arg):
            if time.monotonic() > deadline:
                raise AssertionError(f"not true within {timeout_ms:.0f} ms: {function}")
            await asyncio.sleep(0.05)

    async def open(self, path: str) -> None:
        response = await self.page.goto(self.base_url + path, wait_until="networkidle")
        assert response is not None, f"GET {path}: no response"
        assert response.ok, f"GET {path}: {response.status}"


@asynccontextmanager
async def page_as(
    browser: Browser, console: ConsoleSystem, person: str | None = None, role: str | None = None
) -> AsyncIterator[ConsolePage]:
    """A page whose every request carries `person`'s API token (default: a read-only viewer)."""
    headers = await asyncio.to_thread(console.auth.header, person, role)
    async with chromium.guarded_context(browser, console.base_url, headers=headers) as (context, guard):
        page = await context.new_page()
        yield ConsolePage(page, guard, console.base_url)
    if not guard.checked:  # a test that did not check it itself
        guard.assert_same_origin()


@pytest.fixture
async def console_page(browser: Browser, console: ConsoleSystem) -> AsyncIterator[ConsolePage]:
    """A page of a read-only viewer: may look at any role's queue; personal data masked."""
    async with page_as(browser, console) as page:
        yield page
