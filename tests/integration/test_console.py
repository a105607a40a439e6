"""The web console served by the api process: only local assets, and live updates within 2 s.

Real PostgreSQL and NATS: intake and the reporting projection run in this process, the api in
uvicorn on a real socket.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from services.reporting.api import create_api
from services.reporting.console.assets import STATIC_DIR
from services.reporting.main import build_store
from shared.runtime.settings import Settings
from tests.api_support import serving, staff_auth
from tests.integration.conftest import System
from tests.support import call

pytestmark = pytest.mark.integration
# What a page loads: scripts, styles, icons, the OpenAPI document of Swagger UI and ReDoc.
ASSET = re.compile(
    r"<(?:script|img)\b[^>]*\bsrc=\"([^\"]+)\"|<link\b[^>]*\bhref=\"([^\"]+)\"|spec-url=\"([^\"]+)\"|\burl: '([^']+)'"
)
LINK = re.compile(r"<(?:a|form)\b[^>]*\b(?:href|action)=\"([^\"]+)\"")


@pytest.fixture
def api(settings: Settings) -> FastAPI:
    return create_api(lambda: build_store(settings), settings.nats_url, settings.names)


@pytest.fixture
async def http(api: FastAPI, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(api) as base, httpx.AsyncClient(base_url=base, timeout=10, auth=staff_auth(settings)) as client:
        yield client


def referenced_urls(html: str) -> list[str]:
    return ["".join(groups) for groups in ASSET.findall(html)]


@pytest.mark.parametrize("page", ["/", "/docs", "/redoc"])
async def test_a_page_references_only_local_assets_and_each_loads(http: httpx.AsyncClient, page: str) -> None:
    response = await http.get(page)
    assert response.status_code == 200, response.text
    assert "text/html" in response.headers["content-type"]
    urls = referenced_urls(response.text)
    assert urls, "no assets found on the page"
    for url in urls:
        assert url.startswith("/"), f"{page} loads {url} from outside the server"
        assert not url.startswith("//"), f"{page} loads {url} from outside the server"
        asset = await http.get(url)
        assert asset.status_code == 200, f"{page}: {url} → {asset.status_code}"
        assert asset.content
    assert "fonts.googleapis" not in response.text
    csp = response.headers["content-security-policy"]  # the browser itself refuses other origins
    assert "default-src 'self'" in csp
    assert "connect-src 'self'" in csp
    assert "img-src 'self' data: blob:" in csp
    if page == "/docs":
        assert {"/console/vendor/swagger-ui-bundle.js", "/console/vendor/swagger-ui.css"} <= set(urls)
        assert '"validatorUrl": null' in response.text  # no validator badge from validator.swagger.io
    if page == "/redoc":
        assert "/console/vendor/redoc.standalone.js" in urls
        bundle = (await http.get("/console/vendor/redoc.standalone.js")).text
        assert "cdn.redoc.ly" not in bundle  # its sidebar logo, served from here instead
        assert "/console/vendor/favicon-32x32.png" in bundle
    if page == "/":
        assert "/console/vendor/echarts.min.js" in urls
        assert 'lang="zh-CN"' in response.text
        assert ">仪表盘<" in response.text
        assert ">工作队列<" in response.text
    for link in LINK.findall(response.text):
        assert link.startswith("/"), f"{page} links to {link} outside the server"
        assert not link.startswith("//"), f"{page} links to {link} outside the server"


def test_the_consoles_own_scripts_and_styles_name_no_outside_address() -> None:
    for path in STATIC_DIR.iterdir():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", text), path.name


async def test_only_listed_vendor_files_are_served(http: httpx.AsyncClient) -> None:
    assert (await http.get("/console/vendor/package.json")).status_code == 404
    assert (await http.get("/console/vendor/..%2F..%2Fpackage.json")).status_code == 404
    assert (await http.get("/console/static/../assets.py")).status_code == 404


async def next_event(lines: AsyncIterator[str]) -> tuple[str, str]:
    """The next server-sent event (name, data), comments skipped."""
    name, data = "message", []
    async for line in lines:
        if line.startswith(":") or line.startswith("retry:"):
            continue
        if line.startswith("event:"):
            name = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            data.append(line.removeprefix("data:").strip())
        elif line == "" and (data or name != "message"):
            return name, "\n".join(data)
    raise AssertionError("the stream ended")


async def test_a_new_event_reaches_the_stream_within_2_s_and_the_dashboard_shows_it(
    system: System, api: FastAPI, http: httpx.AsyncClient
) -> None:
    async with http.stream("GET", "/api/v1/events/stream", timeout=10) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.aiter_lines()
        assert (await asyncio.wait_for(next_event(lines), 5))[0] == "ready"
        await asyncio.wait_for(api.state.change_feed.listening.wait(), 5)
        before = (await http.get("/api/v1/dashboard")).json()["complaints"]

        sent = time.monotonic()
        await system.bus.publish_call(call("CALL-CONSOLE-LIVE", received_at="2026-11-23T09:15:00+08:00"))
        name, data = await asyncio.wait_for(next_event(lines), 5)
        while name != "change" or data == "listening":
            name, data = await asyncio.wait_for(next_event(lines), 5)
        elapsed = time.monotonic() - sent
    assert data == "intake"  # the upstream whose events were committed
    assert elapsed < 2.0, f"the change came {elapsed:.2f} s after the call"
    dashboard = (await http.get("/api/v1/dashboard", params={"from": "2026-11-01", "to": "2026-12-01"})).json()
    assert dashboard["complaints"] == before + 1
    assert dashboard["filters"] == {"from": "2026-11-01", "to": "2026-12-01", "region": None, "model": None}


async def test_the_stream_carries_on_after_its_database_connection_is_killed(
    system: System, api: FastAPI, http: httpx.AsyncClient, settings: Settings
) -> None:
    feed = api.state.change_feed
    await asyncio.wait_for(feed.listening.wait(), 5)
    async with http.stream("GET", "/api/v1/events/stream", timeout=15) as stream:
        lines = stream.aiter_lines()
        assert (await asyncio.wait_for(next_event(lines), 5))[0] == "ready"
        async with await psycopg.AsyncConnection.connect(settings.database_url, autocommit=True) as conn:
            killed = await (
                await conn.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query = %s",
                    (f'LISTEN "{feed.channel}"',),
                )
            ).fetchone()
        assert killed == (1,)
        # Back within a second or two: it says so (a page re-fetches what it missed), then carries on.
        assert await asyncio.wait_for(next_event(lines), 5) == ("change", "listening")
        await system.bus.publish_call(call("CALL-CONSOLE-AFTER-KILL"))
        assert await asyncio.wait_for(next_event(lines), 5) == ("change", "intake")
