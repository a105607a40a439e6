"""Dynamic ownership of partitions (`AFTERSALES_PARTITIONS=auto`): fenced leases in PostgreSQL.

Each instance of a service holds leases on some of its partitions, in a table of the service's own
schema (`partition_leases`: partition, owner, epoch, expires_at), renewed every `renew_s` and lost
after `ttl_s` without renewal (database time, so the instances' clocks do not matter). Instances
also say they are alive (`partition_members`), and each takes its fair share: ceil(count / live).

**Fencing.** Taking a lease increments its epoch. Every write of a position under a partition checks,
in the same transaction (`FOR SHARE`), that the lease is still this instance's with that epoch and not
expired (`shared.runtime.store.AftersalesRecorder`, `services.reporting.application.ReportingStore`):
a former owner that was paused past its lease cannot commit anything any more (`LeaseLost`, a
transient failure: its messages come back to the new owner). A new owner that takes the lease waits
on the former owner's open transaction and then reads the position it committed.

**Changes of ownership restart the instance.** An instance builds its consumers for the partitions it
holds at start. When its set should change — a lease lost, partitions free for the taking while it is
below its share (a dead instance's, after `ttl_s`), or more than its share (another instance came) —
it releases what it holds and exits; its supervisor starts it again and it takes its share anew. An
instance that gets no partition waits at start until one is free. The holder of partition 0 is the
leader (relay, timers, commands), so those move with it.
"""

from __future__ import annotations

import asyncio
import math
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import psycopg
import structlog
from psycopg.sql import SQL, Composed, Identifier

from shared.runtime.failures import RetryLater
from shared.runtime.partitions import Partition, Partitioning

log = structlog.get_logger()

TTL_S = 10.0
RENEW_S = 2.0


class LeaseLost(RetryLater):
    """This instance no longer holds the partition it was writing for: the write is refused."""


class Rebalance(RuntimeError):
    """The partitions this instance should hold changed: it releases them and exits to be restarted."""


def fence_check(schema: str) -> Composed:
    """One row while (partition, owner, epoch) still holds an unexpired lease; locks it until commit."""
    return SQL(
        "SELECT 1 FROM {0}.partition_leases WHERE partition = %s AND owner = %s AND epoch = %s"
        " AND expires_at > clock_timestamp() FOR SHARE"
    ).format(Identifier(schema))


class Leases:
    def __init__(self, database_url: str, schema: str, count: int, ttl_s: float = TTL_S) -> None:
        self.database_url = database_url
        self.count = count
        self.ttl_s = ttl_s
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.held: dict[int, int] = {}
        """partition → epoch of the leases this instance holds."""
        s = Identifier(schema)
        self._sql = {
            "schema": SQL("CREATE SCHEMA IF NOT EXISTS {0}").format(s),
            "leases": SQL(
                "CREATE TABLE IF NOT EXISTS {0}.partition_leases (partition int PRIMARY KEY, owner text,"
                " epoch bigint NOT NULL DEFAULT 0, expires_at timestamptz NOT NULL DEFAULT '-infinity')"
            ).format(s),
            "members": SQL(
                "CREATE TABLE IF NOT EXISTS {0}.partition_members (owner text PRIMARY KEY,"
                " seen_at timestamptz NOT NULL)"
            ).format(s),
            "rows": SQL(
                "INSERT INTO {0}.partition_leases (partition) SELECT generate_series(0, %s - 1) ON CONFLICT DO NOTHING"
            ).format(s),
            "alive": SQL(
                "INSERT INTO {0}.partition_members (owner, seen_at) VALUES (%s, clock_timestamp())"
                " ON CONFLICT (owner) DO UPDATE SET seen_at = EXCLUDED.seen_at"
            ).format(s),
            "live": SQL(
                "SELECT count(*) FROM {0}.partition_members"
                " WHERE seen_at > clock_timestamp() - %s * interval '1 second'"
            ).format(s),
            "gone": SQL(
                "DELETE FROM {0}.partition_members WHERE seen_at < clock_timestamp() - %s * interval '1 second'"
            ).format(s),
            "free": SQL(
                "SELECT count(*) FROM {0}.partition_leases WHERE partition < %s AND expires_at <= clock_timestamp()"
            ).format(s),
            "take": SQL(
                "UPDATE {0}.partition_leases SET owner = %s, epoch = epoch + 1,"
                " expires_at = clock_timestamp() + %s * interval '1 second'"
                " WHERE partition IN (SELECT partition FROM {0}.partition_leases WHERE partition < %s"
                " AND expires_at <= clock_timestamp() ORDER BY partition LIMIT %s FOR UPDATE SKIP LOCKED)"
                " RETURNING partition, epoch"
            ).format(s),
            "renew": SQL(
                "UPDATE {0}.partition_leases SET expires_at = clock_timestamp() + %s * interval '1 second'"
                " WHERE owner = %s AND partition = %s AND epoch = %s AND expires_at > clock_timestamp()"
                " RETURNING partition"
            ).format(s),
            "release": SQL(
                "UPDATE {0}.partition_leases SET owner = NULL, expires_at = '-infinity' WHERE owner = %s"
            ).format(s),
        }
        with self._connect() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (schema + ".partition_leases",))
            for ddl in ("schema", "leases", "members"):
                conn.execute(self._sql[ddl])
            conn.execute(self._sql["rows"], (count,))

    def _connect(self) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.database_url, connect_timeout=10)

    def _share(self, conn: psycopg.Connection[tuple[object, ...]]) -> int:
        conn.execute(self._sql["alive"], (self.owner,))
        conn.execute(self._sql["gone"], (self.ttl_s * 3,))
        row = conn.execute(self._sql["live"], (self.ttl_s,)).fetchone()
        live = max(1, int(row[0]) if row else 1)  # type: ignore[call-overload]
        return math.ceil(self.count / live)

    def join(self) -> None:
        """Count in the fair shares from now on."""
        with self._connect() as conn:
            self._share(conn)

    def acquire(self) -> dict[int, int]:
        """Take free or expired leases up to the fair share; return what is held."""
        with self._connect() as conn:
            share = self._share(conn)
            want = share - len(self.held)
            if want > 0:
                for partition, epoch in conn.execute(self._sql["take"], (self.owner, self.ttl_s, self.count, want)):
                    self.held[int(partition)] = int(epoch)  # type: ignore[call-overload]
        return dict(self.held)

    def renew(self) -> None:
        """Renew every lease held; raise `Rebalance` when the set should change."""
        with self._connect() as conn:
            share = self._share(conn)
            lost = [
                p
                for p, epoch in self.held.items()
                if conn.execute(self._sql["renew"], (self.ttl_s, self.owner, p, epoch)).fetchone() is None
            ]
            row = conn.execute(self._sql["free"], (self.count,)).fetchone()
            free = int(row[0]) if row else 0  # type: ignore[call-overload]
        if lost:
            raise Rebalance(f"leases lost: partitions {lost}")
        if len(self.held) > share:
            raise Rebalance(f"holding {len(self.held)} partitions, the fair share is {share}")
        if free and len(self.held) < share:
            raise Rebalance(f"{free} partitions free, holding {len(self.held)} of a share of {share}")

    def release(self) -> None:
        """Give every lease back at once (a graceful exit), so another instance need not wait for `ttl_s`.
        Its membership stays until it ages out: a restarting instance still counts in the shares."""
        with self._connect() as conn:
            conn.execute(self._sql["release"], (self.owner,))
        self.held.clear()

    def fences(self, upstreams: Sequence[str]) -> dict[str, tuple[int, str, int]]:
        """tracking name → (partition, owner, epoch) of every held partition, for the position writes to check."""
        return {
            Partition(p, self.count).tracking(upstream): (p, self.owner, epoch)
            for p, epoch in self.held.items()
            for upstream in upstreams
        }


def claim(leases: Leases, stopping: Callable[[], bool] = lambda: False) -> Partitioning:
    """Wait until this instance holds at least one partition; the partitions it holds. It says it is
    alive one renewal before it takes any, so that instances started together share at once."""
    leases.join()
    time.sleep(min(RENEW_S, leases.ttl_s / 2))
    while not (held := leases.acquire()):
        if stopping():
            raise Rebalance("stopped before any partition was free")
        time.sleep(RENEW_S)
    log.info("partitions_leased", partitions=sorted(held), owner=leases.owner)
    return Partitioning(leases.count, tuple(sorted(held)))


def keeper(leases: Leases) -> Callable[[Any], Awaitable[asyncio.Task[None]]]:
    """A start hook (`ServiceRuntime.start_hooks`): renews the leases every `RENEW_S`; the task ends
    with `Rebalance` (the process exits, its supervisor restarts it) when the set should change, and
    gives the leases back when the process stops."""

    async def renew_for_ever() -> None:
        try:
            while True:
                await asyncio.sleep(RENEW_S)
                try:
                    await asyncio.to_thread(leases.renew)
                except psycopg.Error as exc:  # the database away: the lease may lapse, the fence guards
                    log.warning("lease_renew_failed", error=repr(exc))
        except Rebalance as exc:
            log.info("partitions_rebalance", reason=str(exc))
            await asyncio.to_thread(_release_quietly, leases)
            raise
        except asyncio.CancelledError:
            await asyncio.to_thread(_release_quietly, leases)
            raise

    async def start(js: Any) -> asyncio.Task[None]:
        return asyncio.create_task(renew_for_ever(), name="partition-leases")

    return start


def _release_quietly(leases: Leases) -> None:
    try:
        leases.release()
    except psycopg.Error as exc:
        log.warning("lease_release_failed", error=repr(exc))


def ownership(database_url: str, schema: str, count: int, ttl_s: float) -> tuple[Partitioning, Leases]:
    """`AFTERSALES_PARTITIONS=auto`: the leases of this instance, once it holds at least one partition."""
    leases = Leases(database_url, schema, count, ttl_s)
    return claim(leases), leases
