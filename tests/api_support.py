"""The HTTP API served by uvicorn inside the test's event loop, on a free port of 127.0.0.1, and the
credentials the tests send it (`StaffAuth`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Generator

import httpx
import uvicorn
from fastapi import FastAPI

from shared.runtime.embedded import free_port
from shared.runtime.settings import Settings
from shared.security.authn import AUTH_HEADER
from shared.security.tokens import ROLES, TokenStore, UserError


@contextlib.asynccontextmanager
async def serving(api: FastAPI, startup_timeout_s: float = 30.0) -> AsyncIterator[str]:
    """Serve `api` (lifespan included) and yield its base URL; stop it on exit."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(api, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(startup_timeout_s):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("uvicorn stopped before it started")
                await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


READER = ("test-reader", "viewer")
"""Who reads when a request names no actor (GETs): the read-only role, which sees personal data masked."""


def _declared_actor(request: httpx.Request) -> tuple[str, str] | None:
    if "json" not in request.headers.get("content-type", ""):
        return None
    try:
        body = json.loads(request.content)
    except (ValueError, RecursionError, httpx.RequestNotRead):  # not JSON, hostile, or streamed
        return None
    actor = body.get("actor") if isinstance(body, dict) else None
    if isinstance(actor, dict) and isinstance(actor.get("id"), str) and actor.get("role") in ROLES:
        return actor["id"], actor["role"]
    return None


class StaffAuth(httpx.Auth):
    """Sends every request with a real API token (docs/contract.md §6): of the person the JSON body's
    `actor` names — added with `TokenStore.add_user` on first use, as `aftersales users add` does —
    or of `reader` for a request that names nobody. The api and the services check it as any other."""

    def __init__(self, database_url: str, schema: str, reader: tuple[str, str] = READER) -> None:
        self.store = TokenStore(database_url, schema, max_size=1)
        self.reader = reader
        self.tokens: dict[tuple[str, str], str] = {}

    def token(self, person: str, role: str) -> str:
        if (person, role) not in self.tokens:
            try:
                self.tokens[(person, role)] = self.store.open().add_user(person, person, role)
            finally:
                self.store.close()
        return self.tokens[(person, role)]

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        person, role = _declared_actor(request) or self.reader
        try:
            token = self.token(person, role)
        except UserError:  # an id no person can have (a hostile body): send it as the reader
            token = self.token(*self.reader)
        request.headers["Authorization"] = f"Bearer {token}"
        yield request


def staff_auth(settings: Settings, reader: tuple[str, str] = READER) -> StaffAuth:
    return StaffAuth(settings.database_url, settings.names.db_schema("auth"), reader)


def nats_credential(settings: Settings, person: str, role: str) -> dict[str, str]:
    """The NATS headers of a command sent by `person` (with a fresh API token of theirs)."""
    token = staff_auth(settings).token(person, role)
    return {AUTH_HEADER: f"Bearer {token}"}
