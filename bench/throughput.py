"""Throughput, CPU and latency of the whole pipeline, next to raw NATS/PostgreSQL baselines.

Run from the repository root:

    .venv/bin/python -m bench.throughput [--count 20000] [--rate 1000] [--seconds 10]

Servers: `NATS_URL` / `DATABASE_URL` if set, else an embedded nats-server and pgserver PostgreSQL in a
temporary directory (removed at exit). Everything listens on 127.0.0.1 (pgserver: a unix socket).

1. Raw baselines, in this process with nats-py / psycopg, `--count` messages or rows of ~600 bytes:
   JetStream `publish_async` into a fresh stream, a durable pull consumer fetching 500 at a time and
   acking each message, and PostgreSQL inserts in transactions of 500 (executemany and COPY).
   Scenario 0: intake alone (no relay, no consumers) takes `--count` complaints into its store.
2. Scenario 1 (full speed): fresh namespace, every process `aftersales up` runs (intake, intake's
   relay, dispatch, parts, reporting, api) as subprocesses; `simulate(rate=None)` publishes `--count`
   complaints. ingest = until the intake event store holds them all (max notification_id), visible =
   until the reporting read model does (then one GET). CPU per complaint: user+system CPU of each
   service process (/proc/<pid>/stat) from the first publish until dispatch has a case per complaint
   and the services are idle, divided by `--count`; the sum over the services is
   `cpu_us_per_complaint` (NATS, PostgreSQL and the load generator are shown beside it, not in it).
   Then `aftersales replay all` runs on that namespace's stores: events/s as the command reports.
3. Scenario 2 (fixed rate): another fresh namespace and fresh processes; `--rate` complaints per second
   for `--seconds`; latency per complaint = first poll (every 10 ms) that sees its call_id in the read
   model minus its publish time. The poll's start time is used, so each latency is overstated by at
   most one poll interval plus one query.

The last line printed is the `RESULT ...` line.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import datetime as dt
import functools
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import nats
import psycopg
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError
from psycopg.sql import SQL, Identifier

from aftersales.processes import PROCESSES as UP_PROCESSES
from aftersales.simulate import CHINA, complaint_message, simulate
from services.reporting.application import ReportingStore
from shared.events.subjects import Names
from shared.runtime.embedded import EmbeddedNats, free_port, start_postgres
from shared.runtime.streams import ensure_streams, stream_configs
from shared.security.tokens import TokenStore

REPO = Path(__file__).resolve().parent.parent
PAYLOAD_BYTES = 600
TX_ROWS = 500
FETCH_BATCH = 500
POLL_S = 0.01
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    pass


# --------------------------------------------------------------------------- results table


@dataclass
class Row:
    name: str
    value: float
    unit: str
    detail: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)

    def add(self, name: str, value: float, unit: str, detail: str = "") -> None:
        self.rows.append(Row(name, value, unit, detail))
        print(f"  .. {name}: {value:,.1f} {unit} {detail}", flush=True)

    def print(self) -> None:
        width = max(len(r.name) for r in self.rows)
        print()
        print(f"{'measurement':<{width}}  {'value':>12}  {'unit':<11}  detail")
        print(f"{'-' * width}  {'-' * 12}  {'-' * 11}  {'-' * 40}")
        for r in self.rows:
            value = f"{r.value:,.0f}" if abs(r.value) >= 100 else f"{r.value:,.1f}"
            print(f"{r.name:<{width}}  {value:>12}  {r.unit:<11}  {r.detail}")
        print()


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def payload(size: int = PAYLOAD_BYTES) -> bytes:
    return os.urandom(size // 2).hex().encode()


# --------------------------------------------------------------------------- CPU accounting from /proc


def _proc_stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may hold spaces: split after its closing parenthesis; fields[0] is then the state (field 3).
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int, children: bool = False) -> float:
    fields = _proc_stat(pid)
    if fields is None:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime (reaped children)
    return ticks / CLK_TCK


def postgres_pids(postmaster: int) -> list[int]:
    pids = [postmaster]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _proc_stat(int(entry.name))
            if fields is not None and int(fields[1]) == postmaster:
                pids.append(int(entry.name))
    return pids


@dataclass
class CpuProbe:
    """CPU seconds of the processes that matter, sampled at the start and end of a window."""

    pids: dict[str, Callable[[], float]]

    def sample(self) -> dict[str, float]:
        return {name: read() for name, read in self.pids.items()}

    @staticmethod
    def usage(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, float]:
        """Percent of one core over the window."""
        return {name: 100.0 * (after[name] - before[name]) / seconds for name in before}


# --------------------------------------------------------------------------- servers


@dataclass
class Servers:
    nats_url: str
    database_url: str
    tmp: Path
    nats_server: EmbeddedNats | None = None
    postmaster_pid: int | None = None

    @classmethod
    def start(cls) -> Servers:
        tmp = Path(tempfile.mkdtemp(prefix="aftersales-bench-"))
        # Registered before pgserver registers its own stop: atexit runs it after PostgreSQL stopped.
        atexit.register(shutil.rmtree, tmp, ignore_errors=True)
        servers = cls(os.environ.get("NATS_URL", ""), os.environ.get("DATABASE_URL", ""), tmp)
        if not servers.nats_url:
            servers.nats_server = EmbeddedNats.start(tmp / "nats")
            servers.nats_url = servers.nats_server.url
        if not servers.database_url:
            servers.database_url = start_postgres(tmp / "pg")
            pid_file = tmp / "pg" / "postmaster.pid"
            if pid_file.exists():
                servers.postmaster_pid = int(pid_file.read_text().split()[0])
        return servers

    def stop(self) -> None:
        if self.nats_server is not None:
            self.nats_server.stop()


# --------------------------------------------------------------------------- the system under test


class System:
    """The processes of `aftersales up` (intake, its relay, dispatch, parts, reporting, api) as
    subprocesses in one namespace."""

    PROCESSES: tuple[str, ...] = tuple(UP_PROCESSES)  # every process `aftersales up` runs

    def __init__(self, servers: Servers, label: str, processes: tuple[str, ...] | None = None) -> None:
        if processes is not None:
            self.PROCESSES = processes
        self.servers = servers
        self.namespace = "b" + uuid.uuid4().hex[:10]
        self.names = Names(self.namespace)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_dir = servers.tmp / f"logs-{label}"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.argv: dict[str, tuple[str, ...]] = dict(UP_PROCESSES)
        """What each process runs (bench/scale.py: several instances of the consuming services)."""
        self.env = dict(os.environ)
        self.env.update(
            NATS_URL=servers.nats_url,
            DATABASE_URL=servers.database_url,
            AFTERSALES_NAMESPACE=self.namespace,
            AFTERSALES_HTTP_HOST="127.0.0.1",
            AFTERSALES_HTTP_PORT=str(self.port),
            AFTERSALES_CLOCK="external",  # no deadline fires mid-run: the store holds one event per complaint
        )
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)

    @property
    def intake_schema(self) -> str:
        return self.names.db_schema("intake")

    @property
    def reporting_schema(self) -> str:
        return self.names.db_schema("reporting")

    def start(self) -> None:
        for name in self.PROCESSES:
            with (self.log_dir / f"{name}.log").open("ab") as log:
                self.procs[name] = subprocess.Popen(
                    [sys.executable, "-m", "aftersales.cli", *self.argv[name]],
                    env=self.env,
                    cwd=REPO,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                tail = (self.log_dir / f"{name}.log").read_text(errors="replace")[-2000:]
                raise BenchError(f"{name} exited with {proc.returncode}:\n{tail}")

    def print_log_tails(self, chars: int = 1500) -> None:
        for name in self.procs:
            path = self.log_dir / f"{name}.log"
            tail = path.read_text(errors="replace")[-chars:] if path.exists() else ""
            print(f"---- {name} log (tail) ----\n{tail}", file=sys.stderr, flush=True)

    async def print_broker_state(self, js: JetStreamContext) -> None:
        """Where did the messages go: stream sizes, intake's consumer, the last dead letter."""
        names = self.names
        for config in stream_configs(names):
            if config.name is not None:
                info = await js.stream_info(config.name)
                print(f"---- stream {config.name}: {info.state.messages} messages", file=sys.stderr)
        consumer = await js.consumer_info(names.telephony_stream, names.durable("intake-telephony"))
        print(
            f"---- intake consumer: pending={consumer.num_pending} ack_pending={consumer.num_ack_pending}"
            f" redelivered={consumer.num_redelivered}",
            file=sys.stderr,
        )
        with contextlib.suppress(NotFoundError):
            last = await js.get_last_msg(names.deadletter_stream, names.deadletter_all)
            print(f"---- last dead letter: {last.headers} {(last.data or b'')[:300]!r}", file=sys.stderr)

    def stop(self, timeout_s: float = 20.0) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    def cpu_readers(self) -> dict[str, Callable[[], float]]:
        readers: dict[str, Callable[[], float]] = {}
        for name, proc in self.procs.items():
            readers[name] = functools.partial(cpu_seconds, proc.pid)
        if self.servers.nats_server is not None:
            readers["nats-server"] = functools.partial(cpu_seconds, self.servers.nats_server.process.pid)
        if self.servers.postmaster_pid is not None:
            postmaster = self.servers.postmaster_pid
            readers["postgres (all)"] = lambda: sum(
                cpu_seconds(pid, children=pid == postmaster) for pid in postgres_pids(postmaster)
            )
        readers["bench (this)"] = lambda: sum(os.times()[:2])
        return readers

    async def wait_ready(self, js: JetStreamContext, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        names = self.names
        consumers = [(names.telephony_stream, names.durable("intake-telephony"))]
        if "reporting" in self.PROCESSES:
            consumers.append((names.events_stream("intake"), names.durable("reporting-intake")))
        async with httpx.AsyncClient(timeout=2.0) as http:
            while True:
                self.check_alive()
                if time.monotonic() > deadline:
                    raise BenchError(
                        f"services of {self.namespace} not ready within {timeout_s}s (logs {self.log_dir})"
                    )
                ready = True
                if "api" in self.PROCESSES:
                    try:
                        ready = (await http.get(f"{self.base}/healthz")).status_code == 200
                    except httpx.HTTPError:
                        ready = False
                for stream, durable in consumers:
                    if not ready:
                        break
                    try:
                        await js.consumer_info(stream, durable)
                    except NotFoundError:
                        ready = False
                if ready and await asyncio.to_thread(self._intake_table_exists):
                    return
                await asyncio.sleep(0.2)

    def _intake_table_exists(self) -> bool:
        with psycopg.connect(self.servers.database_url, autocommit=True) as conn:
            row = conn.execute("SELECT to_regclass(%s)", (f'"{self.intake_schema}"."intake_events"',)).fetchone()
            return row is not None and row[0] is not None

    async def cleanup(self, js: JetStreamContext) -> None:
        """Remove this namespace's streams and schemas (matters when the servers are not ours)."""
        for config in stream_configs(self.names):
            if config.name is not None:
                with contextlib.suppress(NotFoundError):
                    await js.delete_stream(config.name)
        with psycopg.connect(self.servers.database_url, autocommit=True) as conn:
            for schema in (self.names.db_schema(s) for s in ("intake", "dispatch", "parts", "reporting")):
                conn.execute(SQL("DROP SCHEMA IF EXISTS {0} CASCADE").format(Identifier(schema)))


@contextlib.contextmanager
def running(system: System) -> Iterator[System]:
    try:
        system.start()
        yield system
    finally:
        system.stop()


# --------------------------------------------------------------------------- raw baselines


@dataclass
class Raw:
    publish_per_s: float = 0.0
    consume_per_s: float = 0.0
    pg_many_per_s: float = 0.0
    pg_copy_per_s: float = 0.0


async def raw_nats(servers: Servers, n: int, report: Report, raw: Raw) -> float:
    """JetStream publish_async, then pull-consume + ack; return messages consumed per second."""
    ns = "braw" + uuid.uuid4().hex[:8]
    stream, subject = f"{ns.upper()}_RAW", f"{ns}.bench.raw"
    nc = await nats.connect(servers.nats_url)
    js = nc.jetstream(publish_async_max_pending=4000)
    try:
        await js.add_stream(
            StreamConfig(name=stream, subjects=[subject], storage=StorageType.FILE, retention=RetentionPolicy.LIMITS)
        )
        body = payload()
        began = time.perf_counter()
        pending: list[asyncio.Future[Any]] = []
        for _ in range(n):
            pending.append(await js.publish_async(subject, body))
            if len(pending) >= 2000:
                await asyncio.wait_for(asyncio.gather(*pending), timeout=60)
                pending.clear()
        await asyncio.wait_for(asyncio.gather(*pending), timeout=60)
        publish_s = time.perf_counter() - began
        raw.publish_per_s = n / publish_s
        report.add("raw JetStream publish_async", n / publish_s, "msg/s", f"{n} x {len(body)} B, file storage")

        sub = await js.pull_subscribe(subject, durable=f"{ns}_raw", stream=stream)
        received = 0
        began = time.perf_counter()
        deadline = began + 120
        while received < n:
            if time.perf_counter() > deadline:
                raise BenchError(f"raw consume: {received}/{n} after 120 s")
            try:
                msgs = await sub.fetch(FETCH_BATCH, timeout=5)
            except TimeoutError:
                continue
            for m in msgs:
                await m.ack()
            received += len(msgs)
        await nc.flush(timeout=10)
        consume_s = time.perf_counter() - began
        raw_consume = raw.consume_per_s = n / consume_s
        report.add("raw JetStream pull + ack", raw_consume, "msg/s", f"durable, fetch {FETCH_BATCH}, ack each")
        return raw_consume
    finally:
        with contextlib.suppress(Exception):
            await js.delete_stream(stream)
        await nc.drain()


def raw_postgres(servers: Servers, n: int, report: Report, raw: Raw) -> None:
    """Batched inserts of ~600-byte rows, TX_ROWS per transaction: executemany, then COPY."""
    schema = "braw" + uuid.uuid4().hex[:8]
    s = Identifier(schema)
    body = payload().decode()
    rows = [(i, f"CALL-{i:07d}", body) for i in range(n)]
    with psycopg.connect(servers.database_url, autocommit=True) as conn:
        try:
            conn.execute(SQL("CREATE SCHEMA {0}").format(s))
            for table in ("many", "copy"):
                conn.execute(
                    SQL("CREATE TABLE {0}.{1} (id bigint PRIMARY KEY, call_id text UNIQUE, body text)").format(
                        s, Identifier(table)
                    )
                )
            insert = SQL("INSERT INTO {0}.many (id, call_id, body) VALUES (%s, %s, %s)").format(s)
            began = time.perf_counter()
            with conn.cursor() as cur:
                for i in range(0, n, TX_ROWS):
                    with conn.transaction():
                        cur.executemany(insert, rows[i : i + TX_ROWS])
            many_s = time.perf_counter() - began
            raw.pg_many_per_s = n / many_s
            report.add("raw PostgreSQL executemany", n / many_s, "rows/s", f"~{len(body)} B rows, {TX_ROWS}/tx")

            copy = SQL("COPY {0}.copy (id, call_id, body) FROM STDIN").format(s)
            began = time.perf_counter()
            with conn.cursor() as cur:
                for i in range(0, n, TX_ROWS):
                    with conn.transaction(), cur.copy(copy) as cp:
                        for row in rows[i : i + TX_ROWS]:
                            cp.write_row(row)
            copy_s = time.perf_counter() - began
            raw.pg_copy_per_s = n / copy_s
            report.add("raw PostgreSQL COPY", n / copy_s, "rows/s", f"~{len(body)} B rows, {TX_ROWS}/tx")
        finally:
            conn.execute(SQL("DROP SCHEMA IF EXISTS {0} CASCADE").format(s))


# --------------------------------------------------------------------------- scenario 1: full speed


@dataclass
class FullSpeed:
    ingest_per_s: float
    visible_per_s: float
    cpu_us_per_complaint: float
    idle_us_per_complaint: float
    """The part of `cpu_us_per_complaint` the services would have used idle (polling) over the window."""
    replay_events_per_s: float


SETTLE_IDLE_CORE = 0.25
"""Scenario 1's CPU window ends when the service processes together use less than this share of one
core over `SETTLE_SAMPLE_S` twice in a row (dispatch and parts still work after all is visible)."""
SETTLE_SAMPLE_S = 0.5
IDLE_SAMPLE_S = 1.0


async def settle(system: System, probe: CpuProbe, n: int, timeout_s: float) -> float:
    """Wait until dispatch holds a case per complaint and the services are idle; seconds waited."""
    cases = SQL("SELECT count(*) FROM {0}.dispatch_events WHERE originator_version = 1").format(
        Identifier(system.names.db_schema("dispatch"))
    )
    began = time.perf_counter()
    deadline = began + timeout_s

    def dispatched() -> int:
        with psycopg.connect(system.servers.database_url, autocommit=True) as conn:
            try:
                row = conn.execute(cases).fetchone()
            except psycopg.errors.UndefinedTable:
                return 0
            return 0 if row is None else int(row[0])

    if "dispatch" in system.procs:
        while await asyncio.to_thread(dispatched) < n:
            system.check_alive()
            if time.perf_counter() > deadline:
                raise BenchError(f"scenario 1: dispatch has not opened {n} cases within {timeout_s:.0f} s")
            await asyncio.sleep(0.1)
    services = [name for name in system.procs]
    quiet = 0
    last = probe.sample()
    while quiet < 2 and time.perf_counter() < deadline:
        await asyncio.sleep(SETTLE_SAMPLE_S)
        now = probe.sample()
        used = sum(now[s] - last[s] for s in services)
        quiet = quiet + 1 if used < SETTLE_IDLE_CORE * SETTLE_SAMPLE_S else 0
        last = now
    return time.perf_counter() - began


async def replay_all(system: System, report: Report) -> float:
    """`aftersales replay all` on the namespace's stores, as an operator runs it; events per second
    as the command measures it (reading and re-evaluating, without the process start)."""
    began = time.perf_counter()
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "aftersales.cli", "replay", "all"],
        env=system.env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    wall = time.perf_counter() - began
    match = re.search(r"replayed (\d+) events, re-evaluated (\d+) decisions in ([\d.]+) s", done.stdout)
    if match is None:
        raise BenchError(f"replay all → {done.returncode}: {done.stdout[-1000:]} {done.stderr[-2000:]}")
    events, decisions, seconds = int(match[1]), int(match[2]), float(match[3])
    rate = events / max(seconds, 1e-6)
    tail = done.stdout.strip().rsplit(";", 1)[-1].strip()
    detail = f"{events} events, {decisions} decisions in {seconds:.2f} s ({wall:.1f} s with start-up); {tail}"
    report.add("S1 replay all", rate, "events/s", detail)
    return rate


async def scenario_full_speed(servers: Servers, system: System, n: int, report: Report) -> FullSpeed:
    max_id = SQL("SELECT max(notification_id) FROM {0}.{1}").format(
        Identifier(system.intake_schema), Identifier("intake_events")
    )
    count = SQL("SELECT count(*) FROM {0}.{1}").format(Identifier(system.intake_schema), Identifier("intake_events"))
    store = ReportingStore(servers.database_url, system.reporting_schema)
    store.open()
    conn = psycopg.connect(servers.database_url, autocommit=True)
    probe = CpuProbe(system.cpu_readers())

    def recorded() -> int:
        row = conn.execute(max_id).fetchone()
        return 0 if row is None or row[0] is None else int(row[0])

    try:
        idle_before = probe.sample()  # what the services use doing nothing (polling), to judge the tail
        await asyncio.sleep(IDLE_SAMPLE_S)
        cpu_before = probe.sample()
        idle_core = sum(cpu_before[p] - idle_before[p] for p in system.procs) / IDLE_SAMPLE_S
        began = time.perf_counter()
        publisher = asyncio.create_task(
            simulate(servers.nats_url, system.names, count=n, rate=None, duplicate_ratio=0, bad_ratio=0, seed=11)
        )
        ingest_s: float | None = None
        visible_s: float | None = None
        deadline = began + 60 + n / 100
        while ingest_s is None or visible_s is None:
            now = time.perf_counter()
            if now > deadline:
                raise BenchError(f"scenario 1: not done after {now - began:.0f} s (ingest={ingest_s})")
            if publisher.done() and publisher.exception() is not None:
                await publisher
            system.check_alive()
            if ingest_s is None and await asyncio.to_thread(recorded) >= n:
                ingest_s = time.perf_counter() - began
            if visible_s is None and await asyncio.to_thread(store.complaint_count) >= n:
                visible_s = time.perf_counter() - began
            await asyncio.sleep(0.02)
        cpu_after = probe.sample()
        stats = await asyncio.wait_for(publisher, timeout=60)

        tokens = TokenStore(system.servers.database_url, system.names.db_schema("auth")).open()
        try:
            token = tokens.add_user("bench-reader", "bench", "viewer")
        finally:
            tokens.close()
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=system.base, timeout=10.0, headers=headers) as http:
            response = await http.get("/api/v1/complaints", params={"call_id": stats.call_ids[-1]})
        found = response.json() if response.status_code == 200 else []
        if len(found) != 1:
            raise BenchError(f"GET /api/v1/complaints?call_id={stats.call_ids[-1]} → {response.status_code} {found}")
        row = conn.execute(count).fetchone()
        events = 0 if row is None else int(row[0])
        if events != n:
            raise BenchError(f"intake event store holds {events} events, expected {n}")

        report.add("S1 publish (simulate, full speed)", n / stats.seconds, "msg/s", f"{n} complaints")
        report.add(
            "S1 ingest (intake event store)", n / ingest_s, "complaint/s", f"all {n} recorded at {ingest_s:.2f} s"
        )
        report.add(
            "S1 visible (reporting read model)",
            n / visible_s,
            "complaint/s",
            f"all visible at {visible_s:.2f} s; GET by call_id ok",
        )
        for name, pct in CpuProbe.usage(cpu_before, cpu_after, visible_s).items():
            report.add(f"S1 CPU {name}", pct, "% of core", f"over the {visible_s:.1f} s to all-visible")

        waited = await settle(system, probe, n, timeout_s=120 + n / 50)
        cpu_done = probe.sample()
        window = visible_s + waited
        per_process = {name: 1e6 * (cpu_done[name] - cpu_before[name]) / n for name in cpu_before}
        services_us = sum(per_process[name] for name in system.procs)
        for name in system.procs:
            share = 100 * per_process[name] / services_us if services_us else 0.0
            report.add(f"S1 CPU/complaint {name}", per_process[name], "µs", f"{share:.0f} % of the services' CPU")
        idle_us = 1e6 * idle_core * window / n
        detail = (
            f"{len(system.procs)} processes, {window:.1f} s until dispatch had every case and all idle;"
            f" idle polling alone would be {idle_us:.0f} µs of it"
        )
        report.add("S1 CPU/complaint all services", services_us, "µs", detail)
        servers_us = sum(v for k, v in per_process.items() if k not in system.procs and k != "bench (this)")
        if servers_us:
            report.add("S1 CPU/complaint NATS + PostgreSQL", servers_us, "µs", "embedded servers, not in the sum above")
        if "bench (this)" in per_process:
            bench_us = per_process["bench (this)"]
            report.add("S1 CPU/complaint load generator", bench_us, "µs", "this process, not in the sum")
        replay = await replay_all(system, report)
        return FullSpeed(n / ingest_s, n / visible_s, services_us, idle_us, replay)
    finally:
        conn.close()
        store.close()


# --------------------------------------------------------------------------- scenario 2: fixed rate


@dataclass
class Latency:
    p50_ms: float
    p99_ms: float


async def scenario_fixed_rate(servers: Servers, system: System, rate: float, seconds: float, report: Report) -> Latency:
    total = max(1, int(rate * seconds))
    subject = system.names.complaint_received
    rng = random.Random(22)
    run_id = f"{rng.randint(0, 99_999_999):08d}"
    received = dt.datetime.now(CHINA).replace(microsecond=0)
    published: dict[str, float] = {}
    visible: dict[str, float] = {}
    pending: set[str] = set()
    query = SQL("SELECT call_id FROM {0}.complaints WHERE call_id = ANY(%s)").format(
        Identifier(system.reporting_schema)
    )
    probe = CpuProbe(system.cpu_readers())
    publish_seconds = 0.0

    async def publisher() -> None:
        nonlocal publish_seconds
        nc = await nats.connect(servers.nats_url)
        js = nc.jetstream(publish_async_max_pending=4000)
        futures: list[asyncio.Future[Any]] = []
        began = time.perf_counter()
        try:
            for i in range(total):
                message = complaint_message(rng, i, received + dt.timedelta(seconds=30) * i, run_id)
                body = json.dumps(message, ensure_ascii=False).encode()
                call_id: str = message["call_id"]
                published[call_id] = time.perf_counter()
                futures.append(await js.publish_async(subject, body))
                pending.add(call_id)
                ahead = (i + 1) / rate - (time.perf_counter() - began)
                if ahead > 0:
                    await asyncio.sleep(ahead)
                if len(futures) >= 1000:
                    await asyncio.wait_for(asyncio.gather(*futures), timeout=60)
                    futures.clear()
            await asyncio.wait_for(asyncio.gather(*futures), timeout=60)
            publish_seconds = time.perf_counter() - began
        finally:
            await nc.drain()

    async def poller(deadline: float) -> None:
        async with await psycopg.AsyncConnection.connect(servers.database_url, autocommit=True) as conn:
            while len(visible) < total:
                if time.perf_counter() > deadline:
                    raise BenchError(f"scenario 2: {len(visible)}/{total} visible at the deadline")
                system.check_alive()
                if pending:
                    ids = list(pending)
                    polled_at = time.perf_counter()
                    cur = await conn.execute(query, (ids,))
                    for (call_id,) in await cur.fetchall():
                        visible[call_id] = polled_at
                        pending.discard(call_id)
                await asyncio.sleep(POLL_S)

    cpu_before = probe.sample()
    began = time.perf_counter()
    poll_task = asyncio.create_task(poller(began + seconds + 90))
    try:
        await publisher()
        await poll_task
    finally:
        poll_task.cancel()
        with contextlib.suppress(asyncio.CancelledError, BenchError):
            await poll_task
    elapsed = time.perf_counter() - began
    cpu_after = probe.sample()

    latencies = sorted((visible[c] - published[c]) * 1000 for c in published)
    lat = Latency(percentile(latencies, 0.50), percentile(latencies, 0.99))
    report.add("S2 publish rate achieved", total / publish_seconds, "msg/s", f"{total} complaints, target {rate:g}/s")
    report.add("S2 latency p50", lat.p50_ms, "ms", "publish → visible in read model (poll 10 ms)")
    report.add("S2 latency p90", percentile(latencies, 0.90), "ms", "")
    report.add("S2 latency p99", lat.p99_ms, "ms", "")
    report.add("S2 latency max", latencies[-1], "ms", "")
    for name, pct in CpuProbe.usage(cpu_before, cpu_after, elapsed).items():
        report.add(f"S2 CPU {name}", pct, "% of core", f"over {elapsed:.1f} s")
    return lat


async def scenario_intake_alone(system: System, n: int, report: Report) -> float:
    """What the intake process alone writes into its store: the same process as in `up`, with the
    relay and the projector not running, so it has the machine's cores to itself."""
    count = SQL("SELECT count(*) FROM {0}.{1} WHERE originator_version = 1").format(
        Identifier(system.intake_schema), Identifier("intake_events")
    )
    conn = psycopg.connect(system.servers.database_url, autocommit=True)
    probe = CpuProbe(system.cpu_readers())
    try:
        cpu_before = probe.sample()
        began = time.perf_counter()
        publisher = asyncio.create_task(
            simulate(system.servers.nats_url, system.names, count=n, rate=None, duplicate_ratio=0, bad_ratio=0, seed=5)
        )
        deadline = began + 60 + n / 100
        while True:
            system.check_alive()
            row = await asyncio.to_thread(lambda: conn.execute(count).fetchone())
            if row is not None and int(row[0]) >= n:
                break
            if time.perf_counter() > deadline:
                raise BenchError("scenario 0: intake did not record every complaint in time")
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - began
        cpu_after = probe.sample()
        await publisher
    finally:
        conn.close()
    report.add("S0 ingest, intake alone", n / elapsed, "complaint/s", f"all {n} recorded at {elapsed:.2f} s")
    for name, pct in CpuProbe.usage(cpu_before, cpu_after, elapsed).items():
        report.add(f"S0 CPU {name}", pct, "% of core", f"over {elapsed:.1f} s")
    return n / elapsed


# --------------------------------------------------------------------------- main


T = TypeVar("T")


async def with_system(
    servers: Servers,
    label: str,
    body: Callable[[System], Awaitable[T]],
    timeout_s: float = 300.0,
    processes: tuple[str, ...] | None = None,
) -> T:
    system = System(servers, label, processes)
    nc = await nats.connect(servers.nats_url)
    try:
        js = nc.jetstream()
        await ensure_streams(js, system.names)
        with running(system):
            await system.wait_ready(js)
            print(f"  .. {label}: namespace {system.namespace}, read API {system.base}", flush=True)
            try:
                return await asyncio.wait_for(body(system), timeout=timeout_s)
            except (BenchError, TimeoutError):
                system.print_log_tails()
                with contextlib.suppress(Exception):
                    await system.print_broker_state(js)
                raise
    finally:
        with contextlib.suppress(Exception):
            await system.cleanup(nc.jetstream())
        await nc.drain()


async def bench(args: argparse.Namespace) -> int:
    servers = Servers.start()
    report = Report()
    print(f"bench: load average (1, 5, 15 min) {' '.join(f'{x:.1f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs")
    try:
        where = "embedded" if servers.nats_server is not None else "given"
        print(
            f"bench: NATS {servers.nats_url} ({where}), PostgreSQL {'embedded' if servers.postmaster_pid else 'given'}"
        )
        print(f"bench: raw baselines, {args.count} messages/rows", flush=True)
        raw = Raw()
        raw_consume = await asyncio.wait_for(raw_nats(servers, args.count, report, raw), timeout=300)
        await asyncio.wait_for(asyncio.to_thread(raw_postgres, servers, args.count, report, raw), timeout=300)

        print(f"bench: scenario 0, {args.count} complaints into intake alone (no relay, no projector)", flush=True)
        await with_system(servers, "s0", lambda s: scenario_intake_alone(s, args.count, report), processes=("intake",))
        print(f"bench: scenario 1, {args.count} complaints at full speed (fresh namespace)", flush=True)
        full: FullSpeed = await with_system(
            servers, "s1", lambda s: scenario_full_speed(servers, s, args.count, report), timeout_s=900
        )
        print(f"bench: scenario 2, {args.rate:g}/s for {args.seconds:g} s (fresh namespace and processes)", flush=True)
        lat: Latency = await with_system(
            servers, "s2", lambda s: scenario_fixed_rate(servers, s, args.rate, args.seconds, report)
        )
    finally:
        servers.stop()
    report.print()
    ratio = full.ingest_per_s / raw_consume
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"load average at the end (1, 5, 15 min): {load}; {os.cpu_count()} CPUs")
    print(
        f"RESULT ingest_per_s={full.ingest_per_s:.0f} (goal>=5000) visible_per_s={full.visible_per_s:.0f} "
        f"cpu_us_per_complaint={full.cpu_us_per_complaint:.0f} (goal<=350; idle polling "
        f"{full.idle_us_per_complaint:.0f} of it) "
        f"p50_ms={lat.p50_ms:.0f} p99_ms={lat.p99_ms:.0f} (at {args.rate:g}/s, goal<=250) "
        f"replay_events_per_s={full.replay_events_per_s:.0f} (goal>=60000) "
        f"raw_publish_per_s={raw.publish_per_s:.0f} raw_consume_per_s={raw_consume:.0f} "
        f"raw_pg_executemany_per_s={raw.pg_many_per_s:.0f} raw_pg_copy_per_s={raw.pg_copy_per_s:.0f} "
        f"ratio={ratio:.2f} loadavg={load.replace(' ', '/')}",
        flush=True,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--count", type=int, default=20_000, help="complaints in scenario 1 and raw messages/rows")
    p.add_argument("--rate", type=float, default=1000.0, help="complaints per second in scenario 2")
    p.add_argument("--seconds", type=float, default=10.0, help="duration of scenario 2")
    p.add_argument("--scale", action="store_true",
                   help="instead: dispatch, parts, reporting with 1, then 2 instances (bench/scale.py)")  # fmt: skip
    args = p.parse_args(argv)
    if args.count < 1 or args.rate <= 0 or args.seconds <= 0:
        p.error("--count, --rate and --seconds must be positive")
    if args.scale:
        if str(REPO) not in sys.path:  # run as a script (`./dev bench`): make `bench` importable
            sys.path.insert(0, str(REPO))
        from bench.scale import bench_scale

        return asyncio.run(bench_scale(args.count))
    return asyncio.run(bench(args))


if __name__ == "__main__":
    sys.exit(main())
