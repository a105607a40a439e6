"""The HTTP API answers every hostile request with a 4xx and its reason, and keeps serving.

The API runs in uvicorn on real sockets, against real PostgreSQL and NATS, with the intake service
answering commands; after each hostile request a good read and a good command still work.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import nats
import pytest
from fastapi import FastAPI

from services.intake.main import build as build_intake
from services.reporting.api import create_api
from services.reporting.edge import MAX_INT64, ApiLimits
from services.reporting.main import build_store
from shared.runtime.settings import Settings
from tests.api_support import serving, staff_auth

pytestmark = pytest.mark.integration

LIMITS = ApiLimits(max_body_bytes=256 * 1024, command_timeout_s=1.0)
ACTOR = {"actor": {"id": "agent-017", "role": "agent"}}


@dataclass
class Edge:
    settings: Settings
    http: httpx.AsyncClient
    api: FastAPI

    async def still_serves(self) -> None:
        """A good read and a good command right after: the service's own answers, not the edge's."""
        read = await self.http.get("/api/v1/complaints", params={"call_id": "CALL-good"})
        assert read.status_code == 200, read.text
        assert read.json() == []
        command = await self.http.post("/api/v1/complaints/TS-2026-99999999/relay", json=ACTOR)
        assert command.status_code == 404, command.text  # intake: no such complaint
        assert command.json()["ok"] is False


@pytest.fixture(scope="module")
def edge_settings(nats_url: str, database_url: str) -> Settings:
    return Settings(nats_url=nats_url, database_url=database_url, namespace="t" + uuid.uuid4().hex[:10])


@pytest.fixture(scope="module")
async def edge(edge_settings: Settings) -> AsyncIterator[Edge]:
    intake = build_intake(edge_settings, run_relay=False)
    await intake.start()
    api = create_api(lambda: build_store(edge_settings), edge_settings.nats_url, edge_settings.names, limits=LIMITS)

    async def boom() -> dict[str, Any]:
        raise RuntimeError("secret internals: /etc/passwd line 42")

    api.add_api_route("/test-only/boom", boom)
    try:
        async with (
            serving(api) as base,
            httpx.AsyncClient(base_url=base, timeout=30, auth=staff_auth(edge_settings)) as http,
        ):
            yield Edge(edge_settings, http, api)
    finally:
        await intake.stop()


def reason_of(response: httpx.Response) -> str:
    body = response.json()
    reason = body.get("detail") or body.get("error")
    assert reason, body
    return str(reason)


def nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        pytest.param(b"[" * 100_000 + b"]" * 100_000, 422, "nested", id="100k-deep-array"),
        pytest.param(nested(500), 422, "nested deeper than 32", id="500-deep-object"),
        pytest.param(b'{"actor": {"id": "agent', 422, "not valid JSON", id="malformed"),
        pytest.param(b"\xff\xfe{", 422, "not valid JSON", id="not-utf8"),
        pytest.param(b'["a list"]', 422, "JSON object", id="not-an-object"),
        pytest.param(b'{"actor": {"id": "a\\u0000b", "role": "agent"}}', 422, "NUL", id="nul-in-string"),
        pytest.param(b'{"note": "\\ud800"}', 422, "surrogate", id="lone-surrogate"),
        pytest.param(b'{"n": ' + b"9" * 5000 + b"}", 422, "not valid JSON", id="5000-digit-number"),
    ],
)
async def test_hostile_command_bodies_get_422_with_a_reason(edge: Edge, body: bytes, status: int, words: str) -> None:
    response = await edge.http.post(
        "/api/v1/complaints/TS-2026-00000001/relay", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == status, response.text
    assert words in reason_of(response)
    await edge.still_serves()


async def test_a_20_mb_body_gets_413(edge: Edge) -> None:
    big = b'{"pad": "' + b"x" * (20 * 1024 * 1024) + b'"}'
    try:
        response = await edge.http.post(
            "/api/v1/complaints/TS-2026-00000001/relay", content=big, headers={"Content-Type": "application/json"}
        )
    except httpx.WriteError:
        pytest.fail("the server closed the connection instead of answering 413")
    assert response.status_code == 413, response.text
    assert "larger than 262144 bytes" in reason_of(response)
    await edge.still_serves()


async def test_a_streamed_body_without_length_is_cut_at_the_limit(edge: Edge) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"pad": "'
        for _ in range(80):  # 80 × 64 KiB = 5 MiB, no Content-Length (chunked)
            yield b"x" * 65536
        yield b'"}'

    response = await edge.http.post(
        "/api/v1/market-prices", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413, response.text
    await edge.still_serves()


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/api/v1/complaints/TS-2026-%0000000001"),
        ("GET", "/api/v1/complaints?call_id=CALL-%00-1"),
        ("GET", "/api/v1/parts/part%00id"),
        ("GET", "/api/v1/reports/old-parts?region=%E5%9B%9B%00"),
        ("POST", "/api/v1/complaints/TS-%00/relay"),
        ("POST", "/api/v1/parts/p%00/hand-in"),
    ],
)
async def test_nul_in_path_or_query_gets_400(edge: Edge, method: str, url: str) -> None:
    response = await edge.http.request(method, url, json=ACTOR)
    assert response.status_code == 400, response.text
    assert "NUL" in reason_of(response)
    await edge.still_serves()


@pytest.mark.parametrize(
    "query",
    [
        {"offset": str(2**63)},
        {"offset": "-1"},
        {"offset": str(10**30)},
        {"limit": str(2**63)},
        {"limit": "-1"},
        {"limit": "0"},
        {"limit": "ten"},
    ],
)
@pytest.mark.parametrize("path", ["/api/v1/reports/tracking-register", "/api/v1/reports/old-parts"])
async def test_offset_and_limit_out_of_range_get_422(edge: Edge, path: str, query: dict[str, str]) -> None:
    response = await edge.http.get(path, params=query)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]  # FastAPI's validation error names the parameter and the bound
    assert (await edge.http.get(path, params={"offset": str(MAX_INT64)})).json() == []
    await edge.still_serves()


async def test_kpis_with_extreme_dates(edge: Edge) -> None:
    wide = await edge.http.get("/api/v1/reports/kpis", params={"from": "0001-01-01", "to": "9999-12-31"})
    assert wide.status_code == 200, wide.text
    bad = await edge.http.get("/api/v1/reports/kpis", params={"from": "99999-01-01"})
    assert bad.status_code == 422, bad.text


async def test_wrong_content_type_gets_415(edge: Edge) -> None:
    response = await edge.http.post(
        "/api/v1/complaints/TS-2026-00000001/relay", content=b"actor=me", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415, response.text
    assert "application/json" in reason_of(response)
    form = await edge.http.post("/api/v1/engineers/eng-1", data={"actor": "me"})
    assert form.status_code == 415, form.text
    await edge.still_serves()


async def test_unknown_route_and_method_say_what_was_asked(edge: Edge) -> None:
    missing = await edge.http.get("/api/v2/nothing-here")
    assert missing.status_code == 404
    assert reason_of(missing) == "no route GET /api/v2/nothing-here"
    wrong = await edge.http.delete("/api/v1/reports/tracking-register")
    assert wrong.status_code == 405
    assert "DELETE is not allowed" in reason_of(wrong)
    not_found = await edge.http.get("/api/v1/complaints/TS-2026-00000404")
    assert not_found.status_code == 404
    assert reason_of(not_found) == "no complaint TS-2026-00000404"  # the route's own 404 keeps its reason
    await edge.still_serves()


async def test_an_unexpected_error_is_a_500_with_a_correlation_id_and_no_trace(
    edge: Edge, capsys: pytest.CaptureFixture[str]
) -> None:
    response = await edge.http.get("/test-only/boom")
    assert response.status_code == 500
    body = response.json()
    assert set(body) == {"detail", "correlation_id"}
    assert "secret" not in response.text
    assert "Traceback" not in response.text
    logged = capsys.readouterr()
    log = logged.out + logged.err
    assert body["correlation_id"] in log  # the trace is in the log, under that id
    assert "RuntimeError" in log
    assert "secret internals" in log
    await edge.still_serves()


async def test_a_command_nobody_answers_in_time_is_a_504(edge: Edge) -> None:
    """A dispatch service that takes the request but never replies: bounded wait, then 504."""
    nc = await nats.connect(edge.settings.nats_url)
    try:
        await nc.subscribe(edge.settings.names.commands("dispatch"), cb=_never_reply)
        await nc.flush()
        response = await edge.http.post("/api/v1/complaints/TS-2026-00000001/dispatch/approve", json=ACTOR)
        assert response.status_code == 504, response.text
        assert "did not answer within 1 s" in reason_of(response)
        assert response.headers["Retry-After"] == str(LIMITS.retry_after_s)
    finally:
        await nc.close()
    no_parts = await edge.http.post("/api/v1/parts/part-1/hand-in", json=ACTOR)  # no parts service running
    assert no_parts.status_code == 503, no_parts.text
    assert "not running" in reason_of(no_parts)
    assert "Retry-After" in no_parts.headers
    await edge.still_serves()


async def _never_reply(msg: Any) -> None:
    return None
