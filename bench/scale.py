"""Scenario "scale" (`./dev bench --scale`): the consuming services with 1 and with 2 instances each.

For each instance count k: a fresh namespace; intake and its relay take `--count` complaints first
(not measured); then dispatch, parts and reporting start, k instances each on k partitions
(`aftersales.processes.with_instances`, as `aftersales up --instances k` runs them). Measured: from
the first case in dispatch's store (resp. the first complaint in the read model) until all `--count`
are there, so the consumers' start-up is left out. On 2 cores shared by everything, a second
instance adds CPU that is not there: compare the two rows, not with a bigger machine.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import nats
import psycopg
from psycopg.sql import SQL, Composed, Identifier

from aftersales.processes import SCALABLE, user_of, with_instances
from aftersales.simulate import simulate
from bench.throughput import BenchError, CpuProbe, Report, Servers, System, running
from shared.runtime.streams import ensure_streams


@dataclass
class Scaled:
    instances: int
    dispatch_per_s: float
    visible_per_s: float


def _counter(servers: Servers, system: System) -> tuple[Composed, Composed]:
    cases = SQL("SELECT count(*) FROM {0}.dispatch_events WHERE originator_version = 1").format(
        Identifier(system.names.db_schema("dispatch"))
    )
    views = SQL("SELECT count(*) FROM {0}.complaints").format(Identifier(system.reporting_schema))
    return cases, views


async def scenario_scale(servers: Servers, instances: int, n: int, report: Report) -> Scaled:
    system = System(servers, f"scale{instances}", processes=("intake", "intake-relay"))
    system.argv = with_instances(instances, instances)
    system.env["AFTERSALES_PARTITION_COUNT"] = str(instances)
    consumers = tuple(name for name in system.argv if user_of(name) in SCALABLE)
    nc = await nats.connect(servers.nats_url)
    js = nc.jetstream()
    conn = psycopg.connect(servers.database_url, autocommit=True)
    try:
        await ensure_streams(js, system.names)
        with running(system):
            await system.wait_ready(js)
            await simulate(servers.nats_url, system.names, count=n, rate=None, duplicate_ratio=0, bad_ratio=0, seed=5)
            deadline = time.monotonic() + 60 + n / 100
            while (await js.stream_info(system.names.events_stream("intake"))).state.messages < n:
                if time.monotonic() > deadline:
                    raise BenchError(f"scale {instances}: intake did not relay {n} complaints")
                await asyncio.sleep(0.1)
            print(f"  .. scale {instances}: {n} complaints on intake's stream; starting {', '.join(consumers)}")
            system.PROCESSES = consumers
            system.start()
            probe = CpuProbe(system.cpu_readers())
            cpu_before = probe.sample()
            cases_sql, views_sql = _counter(servers, system)

            def count(query: Composed) -> int:
                try:
                    row = conn.execute(query).fetchone()
                except psycopg.errors.UndefinedTable:
                    return 0
                return 0 if row is None else int(row[0])

            first: dict[str, tuple[float, int]] = {}
            done: dict[str, float] = {}
            began = time.perf_counter()
            while len(done) < 2:
                system.check_alive()
                if time.perf_counter() - began > 120 + n / 50:
                    raise BenchError(f"scale {instances}: consumers not done ({done}, first {first})")
                now = time.perf_counter()
                for what, query in (("dispatch", cases_sql), ("visible", views_sql)):
                    if what in done:
                        continue
                    seen = await asyncio.to_thread(count, query)
                    if seen and what not in first:
                        first[what] = (now, seen)
                    if seen >= n:
                        done[what] = now
                await asyncio.sleep(0.02)
            cpu_after = probe.sample()
        rates = {what: (n - first[what][1]) / max(done[what] - first[what][0], 1e-3) for what in done}
        label = f"X{instances} {instances} instance{'s' if instances > 1 else ''} each"
        report.add(f"{label}: into dispatch's store", rates["dispatch"], "complaint/s", f"{n} cases")
        report.add(f"{label}: visible in the read model", rates["visible"], "complaint/s", f"{n} complaints")
        span = max(done.values()) - began
        for name, pct in CpuProbe.usage(cpu_before, cpu_after, span).items():
            report.add(f"{label}: CPU {name}", pct, "% of core", f"over {span:.1f} s")
        return Scaled(instances, rates["dispatch"], rates["visible"])
    finally:
        conn.close()
        try:
            await system.cleanup(nc.jetstream())
        finally:
            await nc.drain()


async def bench_scale(n: int) -> int:
    servers = Servers.start()
    report = Report()
    results: list[Scaled] = []
    try:
        for instances in (1, 2):
            print(f"bench: scale, {n} complaints through dispatch, parts and reporting, {instances} instance(s) each")
            results.append(await scenario_scale(servers, instances, n, report))
    finally:
        servers.stop()
    report.print()
    one, two = results
    print(
        f"RESULT scale dispatch_1={one.dispatch_per_s:.0f} dispatch_2={two.dispatch_per_s:.0f} "
        f"visible_1={one.visible_per_s:.0f} visible_2={two.visible_per_s:.0f}",
        flush=True,
    )
    return 0
