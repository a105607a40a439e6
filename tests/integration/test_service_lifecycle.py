"""ServiceRuntime's lifecycle against a real broker: it stops when asked, whatever it waits for, and a
background task that dies does not leave a process running without it."""

from __future__ import annotations

import asyncio

import pytest
from nats.js import JetStreamContext

from shared.runtime.service import BackgroundTaskFailed, Ports, ServiceRuntime
from shared.runtime.settings import Settings

pytestmark = pytest.mark.integration


async def test_a_background_task_that_fails_ends_run_forever(settings: Settings) -> None:
    runtime = ServiceRuntime(settings, "parts", None, None, Ports(settings.names), run_relay=False)

    async def broken() -> None:
        await asyncio.sleep(0.2)
        raise ValueError("a bug in a background task")

    async def start_broken(js: JetStreamContext) -> asyncio.Task[None]:
        return asyncio.create_task(broken(), name="broken")

    runtime.start_hooks.append(start_broken)
    with pytest.raises(BackgroundTaskFailed, match="broken"):
        await asyncio.wait_for(runtime.run_forever(asyncio.Event()), timeout=30)


async def test_a_stop_asked_while_the_broker_is_unreachable_ends_run_forever(settings: Settings) -> None:
    unreachable = Settings(nats_url="nats://127.0.0.1:9", database_url=settings.database_url,
                           namespace=settings.namespace)  # fmt: skip
    runtime = ServiceRuntime(unreachable, "parts", None, None, Ports(unreachable.names), run_relay=False)
    stop = asyncio.Event()
    running = asyncio.create_task(runtime.run_forever(stop))
    await asyncio.sleep(3)
    assert not running.done(), "it kept trying to connect"
    stop.set()
    await asyncio.wait_for(running, timeout=15)
