"""The HTTP API served by uvicorn inside the test's event loop, on a free port of 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import uvicorn
from fastapi import FastAPI

from shared.runtime.embedded import free_port


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
