"""`aftersales up` with its embedded NATS runs every process as its own NATS user (shared/runtime/natsauth.py):
the whole system still works end to end, and no process needs a subject its permissions do not give it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import nats
import pytest

from services.reporting.main import build_store
from shared.runtime.embedded import free_port
from shared.runtime.natsauth import NatsCredentials
from shared.runtime.settings import Settings
from tests.support import body, call, wait_until

pytestmark = pytest.mark.e2e


def up_env(settings: Settings, http_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "AFTERSALES_NATS_CREDENTIALS")}
    env.update(DATABASE_URL=settings.database_url, AFTERSALES_NAMESPACE=settings.namespace,
               AFTERSALES_CLOCK="external", AFTERSALES_HTTP_PORT=str(http_port))  # fmt: skip
    return env


def start_up(
    env: dict[str, str], data_dir: Path, nats_port: int, log_path: Path, instances: int = 1
) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        argv = ["up", "--data-dir", str(data_dir), "--nats-port", str(nats_port), "--instances", str(instances)]
        return subprocess.Popen([sys.executable, "-m", "aftersales.cli", *argv], env=env, stdout=log,
                                stderr=subprocess.STDOUT)  # fmt: skip


def tick(env: dict[str, str], iso: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "aftersales.cli", "tick", iso], env=env, capture_output=True,
                          timeout=60, check=False)  # fmt: skip


@pytest.mark.parametrize("instances", [1, 2])
async def test_a_call_becomes_a_complaint_with_one_nats_user_per_process(
    settings: Settings, tmp_path: Path, instances: int
) -> None:
    """With `--instances 2`, two instances each of dispatch, parts and reporting, as their services' users."""
    http_port, nats_port = free_port(), free_port()
    data_dir = tmp_path / "up"
    env = up_env(settings, http_port)
    log_path = tmp_path / "up.log"
    up = start_up(env, data_dir, nats_port, log_path, instances)
    nats_url = f"nats://127.0.0.1:{nats_port}"
    credentials = data_dir / "nats-credentials"
    store = build_store(settings)
    try:

        async def healthy() -> bool:
            try:
                async with httpx.AsyncClient() as http:
                    return (await http.get(f"http://127.0.0.1:{http_port}/healthz")).status_code == 200
            except httpx.HTTPError:
                return False

        await wait_until(healthy, timeout_s=60, interval_s=0.2, what="the read API of `aftersales up`")

        async def announced() -> bool:  # `up` prints its children once it has seen /healthz itself
            return "up: all services running" in log_path.read_text()

        await wait_until(announced, timeout_s=30, interval_s=0.2, what="`aftersales up` listing its children")
        assert "one user per process" in log_path.read_text()
        assert ("reporting-2=" in log_path.read_text()) == (instances == 2)

        # Nobody gets in without a user of the generated ones.
        with pytest.raises(nats.errors.Error, match=r"(?i)authorization"):
            await nats.connect(nats_url, allow_reconnect=False, max_reconnect_attempts=0)

        # The clock, as the clock user (`aftersales tick`).
        clock = {**env, "NATS_URL": nats_url, "AFTERSALES_NATS_CREDENTIALS": str(credentials / "clock.credentials")}
        ticked = await asyncio.to_thread(tick, clock, "2026-11-23T09:20:00+08:00")
        assert ticked.returncode == 0, ticked.stderr.decode(errors="replace")

        # A call, as the telephony integrator.
        telephony = NatsCredentials.read(credentials / "telephony.credentials")
        nc = await nats.connect(nats_url, **telephony.connect_options())
        try:
            await nc.jetstream().publish(settings.names.complaint_received, body(call("C-NATS-USERS-1")))
        finally:
            await nc.drain()

        store.open()

        async def registered() -> bool:
            return bool(store.complaints_for_call("C-NATS-USERS-1"))

        await wait_until(registered, timeout_s=30, interval_s=0.2, what="the complaint in the read model")
        assert up.poll() is None
        said = log_path.read_text(errors="replace")
        assert " exited with " not in said, said[-3000:]
        server_log = (data_dir / "nats" / "nats-server.log").read_text(errors="replace")
        assert "Violation" not in server_log, [line for line in server_log.splitlines() if "Violation" in line]
    finally:
        store.close()
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(timeout=30)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait(timeout=10)
