"""Helpers for the tests that kill processes and restart servers under traffic (issue 9, part 4)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import nats
import nats.errors
import psycopg
from psycopg.sql import SQL, Identifier

from aftersales.simulate import CHINA, complaint_message
from shared.events.subjects import SERVICES, Names
from shared.runtime.settings import Settings
from tests.api_support import staff_auth
from tests.support import wait_until


@dataclass
class Caller:
    """Distinct calls at `rate` per second. A publish the broker does not acknowledge (it is away) is
    sent again with the same `Nats-Msg-Id` until it is, so every call counted in `sent` is on the stream."""

    nats_url: str
    names: Names
    rate: float
    seed: int = 7
    sent: list[str] = field(default_factory=list)
    retries: int = 0
    stopping: bool = False
    """Set to end the run after the call in flight (cancelling could lose count of an acknowledged one)."""

    async def run(self, count: int) -> None:
        rng = random.Random(self.seed)
        run_id = f"{self.seed:04d}{rng.randint(0, 9999):04d}"
        received = dt.datetime(2027, 12, 30, 9, 0, tzinfo=CHINA)
        nc = await nats.connect(self.nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
        js = nc.jetstream(timeout=2.0)
        began = time.monotonic()
        try:
            for n in range(count):
                if self.stopping:
                    break
                message = complaint_message(rng, len(self.sent), received + dt.timedelta(seconds=30 * n), run_id)
                body = json.dumps(message, ensure_ascii=False).encode()
                while True:
                    try:
                        await js.publish(
                            self.names.complaint_received, body, headers={"Nats-Msg-Id": message["call_id"]}
                        )
                        break
                    except (nats.errors.Error, TimeoutError):
                        self.retries += 1
                        await asyncio.sleep(0.2)
                self.sent.append(message["call_id"])
                ahead = (n + 1) / self.rate - (time.monotonic() - began)
                if ahead > 0:
                    await asyncio.sleep(ahead)
        finally:
            await nc.close()


class ReadApi:
    def __init__(self, port: int, settings: Settings) -> None:
        self.http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10, auth=staff_auth(settings))

    async def healthy(self) -> bool:
        try:
            return (await self.http.get("/healthz")).status_code == 200
        except httpx.HTTPError:
            return False

    async def register(self) -> list[dict[str, object]]:
        response = await self.http.get("/api/v1/reports/tracking-register", params={"limit": 100_000})
        response.raise_for_status()
        views: list[dict[str, object]] = response.json()
        return views

    async def count(self) -> int:
        try:
            return len(await self.register())
        except httpx.HTTPError:
            return -1

    async def close(self) -> None:
        await self.http.aclose()


async def time_to_grow(api: ReadApi, by: int, timeout_s: float) -> float:
    """Seconds until the read API shows `by` more complaints than now: the whole pipeline flows."""
    began = time.monotonic()
    baseline = max(await api.count(), 0)

    async def grown() -> bool:
        return await api.count() >= baseline + by

    await wait_until(grown, timeout_s=timeout_s, interval_s=0.25, what=f"{by} more complaints in the read API")
    return time.monotonic() - began


async def assert_exactly_once(api: ReadApi, sent: list[str], timeout_s: float = 120) -> float:
    """Every call sent is one complaint in the read API, with its own complaint number; returns the
    seconds it took to get there."""
    began = time.monotonic()

    async def all_visible() -> bool:
        return await api.count() >= len(set(sent))

    await wait_until(all_visible, timeout_s=timeout_s, interval_s=0.5, what=f"{len(set(sent))} complaints")
    took = time.monotonic() - began
    await asyncio.sleep(1.0)  # anything doubled would show up now
    register = await api.register()
    assert len(register) == len(set(sent))
    assert {v["call_id"] for v in register} == set(sent)
    assert len({v["complaint_no"] for v in register}) == len(register)
    return took


def stored_events(database_url: str, names: Names) -> dict[str, int]:
    counts: dict[str, int] = {}
    with psycopg.connect(database_url, autocommit=True) as conn:
        for service in SERVICES:
            schema = names.db_schema(service)
            row = conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND table_name LIKE %s",
                (schema, "%\\_events"),
            ).fetchone()
            if row is not None:
                query = SQL("SELECT count(*) FROM {0}.{1}").format(Identifier(schema), Identifier(row[0]))
                (count,) = conn.execute(query).fetchall()
                counts[service] = int(count[0])
    return counts


async def assert_every_service_caught_up(nats_url: str, database_url: str, names: Names, timeout_s: float = 60) -> None:
    """Every relay published each stored event once, and every durable consumer has nothing pending."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    try:

        async def caught_up() -> bool:
            stored = stored_events(database_url, names)
            for service, count in stored.items():
                info = await js.stream_info(names.events_stream(service))
                if info.state.messages != count:
                    return False
            for stream in [names.events_stream(s) for s in stored] + [names.telephony_stream]:
                for consumer in await js.consumers_info(stream):
                    if consumer.num_pending or consumer.num_ack_pending:
                        return False
            return True

        await wait_until(caught_up, timeout_s=timeout_s, interval_s=0.5, what="every relay and consumer caught up")
    finally:
        await nc.close()


def cpu_and_rss(pid: int) -> tuple[float, int]:
    """CPU seconds used so far and resident bytes of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    return cpu, rss_pages * os.sysconf("SC_PAGE_SIZE")
