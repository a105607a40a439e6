"""Never stall (issue 9, part 4): processes and servers come back, nothing lost or doubled.

The servers here are the test's own (fixed port, own data dir), because the tests stop and restart
them; the machine's NATS and PostgreSQL are never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from aftersales.cli import HARD_STOP_S
from aftersales.processes import PROCESSES
from shared.runtime.embedded import EmbeddedNats, EmbeddedPostgres, EmbeddedServerError, free_port
from shared.runtime.settings import Settings
from tests.e2e.never_stall import (
    Caller,
    ReadApi,
    assert_every_service_caught_up,
    assert_exactly_once,
    cpu_and_rss,
    time_to_grow,
)
from tests.support import ServiceProcess, service_env, wait_until

pytestmark = pytest.mark.e2e

RECOVERY_BOUND_S = 30.0


@dataclass
class OwnServers:
    nats: EmbeddedNats
    pg: EmbeddedPostgres
    nats_dir: Path

    def settings(self, namespace: str) -> Settings:
        return Settings(nats_url=self.nats.url, database_url=self.pg.url, namespace=namespace, clock="external",
                        http_port=free_port())  # fmt: skip


@pytest.fixture
def own_servers(tmp_path: Path) -> Iterator[OwnServers]:
    # PostgreSQL's data dir lives outside pytest's tmp root: as root, the server runs as another user,
    # and every pytest session on the machine resets that root to mode 0700.
    pg_dir = Path(tempfile.mkdtemp(prefix="aftersales-test-pg-"))
    nats_server = EmbeddedNats.start(tmp_path / "nats")
    servers = OwnServers(nats_server, EmbeddedPostgres.start(pg_dir / "pg"), tmp_path / "nats")
    yield servers
    servers.nats.stop()
    with contextlib.suppress(EmbeddedServerError):
        servers.pg.down("immediate")
    shutil.rmtree(pg_dir, ignore_errors=True)


@pytest.fixture
async def api_of(request: pytest.FixtureRequest) -> AsyncIterator[list[ReadApi]]:
    apis: list[ReadApi] = []
    yield apis
    for api in apis:
        await api.close()


def start_all(settings: Settings, log_dir: Path) -> dict[str, ServiceProcess]:
    port = str(settings.http_port)
    return {
        name: ServiceProcess(settings, log_dir, *argv[1:], AFTERSALES_HTTP_PORT=port).start()
        for name, argv in PROCESSES.items()
    }


def stop_all(processes: dict[str, ServiceProcess]) -> None:
    for process in processes.values():
        process.stop()


async def test_sigterm_stops_a_service_whose_nats_and_postgres_are_gone(own_servers: OwnServers, tmp_path: Path,
                                                                        namespace: str) -> None:  # fmt: skip
    settings = own_servers.settings(namespace)
    parts = ServiceProcess(settings, tmp_path, "parts").start()
    assert parts.proc is not None

    async def started() -> bool:
        return "service_started" in parts.log_tail()

    await wait_until(started, timeout_s=60, interval_s=0.2, what="parts started")
    own_servers.nats.stop()
    await asyncio.to_thread(own_servers.pg.down, "immediate")
    cpu_before, rss_before = cpu_and_rss(parts.proc.pid)
    await asyncio.sleep(15)  # both away: the service retries, with backoff
    cpu_after, rss_after = cpu_and_rss(parts.proc.pid)
    cpu_share = (cpu_after - cpu_before) / 15
    began = time.monotonic()
    parts.proc.send_signal(signal.SIGTERM)
    await asyncio.to_thread(parts.proc.wait, 30)
    connected_stop_s = time.monotonic() - began

    # A service that starts while NATS is away (PostgreSQL back): it waits for the broker, and is asked to stop.
    await asyncio.to_thread(own_servers.pg.up)
    starting = ServiceProcess(settings, tmp_path, "parts").start()
    assert starting.proc is not None
    await asyncio.sleep(8)
    assert starting.proc.poll() is None, "parts gave up waiting for NATS: " + starting.log_tail()
    began = time.monotonic()
    starting.proc.send_signal(signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        await asyncio.to_thread(starting.proc.wait, 30)
    starting_stop_s = time.monotonic() - began
    print(f"\nservers gone for 15 s: parts used {cpu_share:.1%} of a core, RSS {rss_before / 2**20:.0f} → "
          f"{rss_after / 2**20:.0f} MiB; SIGTERM → exit in {connected_stop_s:.2f} s (was running), "
          f"{starting_stop_s:.2f} s (was waiting for NATS to start)")  # fmt: skip
    assert connected_stop_s < HARD_STOP_S + 2, parts.log_tail()
    assert starting_stop_s < HARD_STOP_S + 2, starting.log_tail()
    assert starting.proc.poll() is not None
    assert cpu_share < 0.2, "reconnecting must back off, not spin"
    assert rss_after - rss_before < 50 * 2**20, "memory must stay bounded while the servers are away"


async def test_nats_and_postgres_restarted_under_load(own_servers: OwnServers, tmp_path: Path, namespace: str,
                                                      api_of: list[ReadApi]) -> None:  # fmt: skip
    settings = own_servers.settings(namespace)
    processes = start_all(settings, tmp_path)
    api = ReadApi(settings.http_port, settings)
    api_of.append(api)
    try:
        await wait_until(api.healthy, timeout_s=60, interval_s=0.2, what="the read API")
        caller = Caller(settings.nats_url, settings.names, rate=250)
        load = asyncio.create_task(caller.run(5000))

        async def flowing() -> bool:
            return await api.count() >= 800

        await wait_until(flowing, timeout_s=60, interval_s=0.25, what="complaints flowing")
        began = time.monotonic()
        own_servers.nats = await asyncio.to_thread(own_servers.nats.restart, own_servers.nats_dir, 1.0)
        nats_restart_s = time.monotonic() - began
        nats_recovery_s = await time_to_grow(api, by=200, timeout_s=RECOVERY_BOUND_S)
        assert not load.done(), "the load ended before PostgreSQL's restart: the test proved nothing"

        began = time.monotonic()
        await asyncio.to_thread(own_servers.pg.restart, 1.0)
        pg_restart_s = time.monotonic() - began
        pg_recovery_s = await time_to_grow(api, by=200, timeout_s=RECOVERY_BOUND_S)

        await load
        catch_up_s = await assert_exactly_once(api, caller.sent)
        await assert_every_service_caught_up(settings.nats_url, settings.database_url, settings.names)
        print(f"\n{len(caller.sent)} calls sent ({caller.retries} publishes retried while NATS was away), "
              f"{len(caller.sent)} complaints in the read API, none doubled; NATS down {nats_restart_s:.1f} s, "
              f"flowing again {nats_recovery_s:.1f} s after; PostgreSQL down {pg_restart_s:.1f} s, flowing again "
              f"{pg_recovery_s:.1f} s after; all visible {catch_up_s:.1f} s after the last call")  # fmt: skip
    finally:
        stop_all(processes)


def children_of(pid: int) -> dict[tuple[str, ...], int]:
    """The `aftersales run …` children of a process: their arguments after `aftersales.cli` → pid."""
    found: dict[tuple[str, ...], int] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            argv = (proc / "cmdline").read_bytes().decode().split("\0")
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid and "aftersales.cli" in argv:
            found[tuple(a for a in argv[argv.index("aftersales.cli") + 1 :] if a)] = int(proc.name)
    return found


def start_up(settings: Settings, log_dir: Path, port: int) -> subprocess.Popen[bytes]:
    with (log_dir / "up.log").open("ab") as log:
        return subprocess.Popen([sys.executable, "-m", "aftersales.cli", "up", "--data-dir", str(log_dir / "up")],
                                env=service_env(settings, AFTERSALES_HTTP_PORT=str(port)), stdout=log,
                                stderr=subprocess.STDOUT)  # fmt: skip


async def test_each_child_of_up_killed_under_traffic_is_restarted(settings: Settings, tmp_path: Path,
                                                                   api_of: list[ReadApi]) -> None:  # fmt: skip
    port = free_port()
    up = start_up(settings, tmp_path, port)
    api = ReadApi(port, settings)
    api_of.append(api)
    load: asyncio.Task[None] | None = None
    try:
        await wait_until(api.healthy, timeout_s=60, interval_s=0.2, what="the read API")
        caller = Caller(settings.nats_url, settings.names, rate=100)
        load = asyncio.create_task(caller.run(100_000))
        recoveries: dict[str, float] = {}
        for name, argv in PROCESSES.items():
            victim = children_of(up.pid)[argv]
            began = time.monotonic()
            os.kill(victim, signal.SIGKILL)

            async def replaced(argv: tuple[str, ...] = argv, victim: int = victim) -> bool:
                return children_of(up.pid).get(argv, victim) != victim

            await wait_until(replaced, timeout_s=RECOVERY_BOUND_S, interval_s=0.1, what=f"{name} restarted")
            await time_to_grow(api, by=50, timeout_s=RECOVERY_BOUND_S)
            recoveries[name] = time.monotonic() - began
            assert not load.done()
        caller.stopping = True
        await load
        catch_up_s = await assert_exactly_once(api, caller.sent)
        await assert_every_service_caught_up(settings.nats_url, settings.database_url, settings.names)
        assert up.poll() is None, "up stopped instead of restarting its child"
        said = (tmp_path / "up.log").read_text(errors="replace")
        for name in PROCESSES:
            assert f"up: {name} exited with -9" in said
            assert f"up: {name} restarted" in said
        # Every child killed mid-write, yet each store's chain is signed to its end and matches its stream.
        key = tmp_path / "up" / "keys" / "checkpoint-ed25519.pem"
        assert key.stat().st_mode & 0o777 == 0o600
        verified = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "aftersales.cli", "audit", "verify"],
            env=service_env(settings, AFTERSALES_CHECKPOINT_KEY=str(key)), capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "signed checkpoints hold" in verified.stdout
        print(
            f"\n{len(caller.sent)} calls, as many complaints, none doubled; SIGKILL → flowing again: "
            + ", ".join(f"{n} {s:.1f} s" for n, s in recoveries.items())
            + f"; caught up {catch_up_s:.1f} s"
        )
    finally:
        if load is not None and not load.done():
            load.cancel()
        began = time.monotonic()
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(timeout=30)
        except subprocess.TimeoutExpired:
            up.kill()
            raise
        stopped_s = time.monotonic() - began
        assert not children_of(up.pid)
        print(f"up stopped with its children in {stopped_s:.1f} s")
