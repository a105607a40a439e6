"""Where intake's time goes: cProfile of intake handling a batch of complaints, in this process, on
the real store (eventsourcing on PostgreSQL, `DATABASE_URL`, a fresh schema dropped at the end).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test .venv/bin/python -m bench.profile_intake [--count 3000]

Profiled per batch of `--batch` (500, intake's batch size): what `on_telephony` runs for each
message and batch — `decode_telephony` (the door, msgspec), then `IntakeApplication.register` in
one transaction (rules, calendar, eventsourcing events, transcoder, psycopg). Not in it: fetching
and acking on NATS, and the relay's publishing (separate processes; see the bench's CPU table).
Prints self time by area and the top functions by cumulative time (markdown).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import json
import os
import random
import sys
import time
import uuid
from collections.abc import Callable

import psycopg
from psycopg.sql import SQL, Identifier

from aftersales.simulate import CHINA, complaint_message
from bench.profiling import classifier, print_profile
from services.intake.application import InboundCall, IntakeApplication
from shared.events.telephony import ComplaintReceivedV1, decode_telephony
from shared.runtime.settings import Settings
from shared.runtime.store import build_application
from shared.security.keystore import PostgresKeyStore

AREAS: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("psycopg / PostgreSQL wire", lambda f: "psycopg" in f),
    ("eventsourcing", lambda f: "eventsourcing" in f),
    ("msgspec / JSON", lambda f: "msgspec" in f or "json" in f),
    ("rules / calendar", lambda f: "policy.py" in f or "workcal" in f or "calendar" in f or "lunar" in f),
    ("NATS", lambda f: "/nats/" in f),
    ("intake domain + application", lambda f: "services/intake" in f),
    ("shared (store, security, events)", lambda f: "/shared/" in f),
    ("crypto (PII seal, chain hash)", lambda f: "cryptography" in f or "hashlib" in f or "_sha" in f),
    ("uuid", lambda f: "uuid" in f),
    ("datetime / zoneinfo", lambda f: "datetime" in f or "zoneinfo" in f),
    ("structlog / logging", lambda f: "structlog" in f or "logging" in f),
)


area_of = classifier(AREAS, other="other (stdlib, uuid, datetime, …)")


def messages(n: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    run_id = f"{rng.randint(0, 99_999_999):08d}"
    received = dt.datetime.now(CHINA).replace(microsecond=0) - dt.timedelta(hours=1)
    at = [received + dt.timedelta(milliseconds=i) for i in range(n)]
    return [json.dumps(complaint_message(rng, i, at[i], run_id), ensure_ascii=False).encode() for i in range(n)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--count", type=int, default=3000)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--keep", action="store_true", help="keep the stores (to profile `replay all` on them)")
    p.add_argument("--timer", choices=("cpu", "wall", "none"), default="cpu",
                   help="cpu: CPU time (default); wall: also the waits on PostgreSQL; none: no profiler")  # fmt: skip
    args = p.parse_args(argv)
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        p.error("DATABASE_URL must be set (e.g. the system PostgreSQL)")
    settings = Settings(nats_url="nats://unused", database_url=database_url, namespace="p" + uuid.uuid4().hex[:8])
    names = settings.names
    schemas = [names.db_schema("intake"), names.db_schema("pii")]
    app = build_application(IntakeApplication, database_url, schemas[0], max_event_bytes=settings.max_event_bytes)
    keys = PostgresKeyStore(database_url, schemas[1])
    keys.open()
    app.use_keys(keys)
    bodies = messages(args.count)
    limits = settings.door_limits
    profiler = cProfile.Profile(time.process_time) if args.timer == "cpu" else cProfile.Profile()
    profiling = args.timer != "none"
    try:
        # warm-up batch (imports, prepared statements, first calendar lookups), not profiled
        warm = messages(args.batch, seed=8)
        now = dt.datetime.now(dt.UTC)
        decoded_warm = [decode_telephony(b, now, limits) for b in warm]
        app.register(
            [InboundCall(c, f"warm-{i}") for i, c in enumerate(decoded_warm) if isinstance(c, ComplaintReceivedV1)]
        )
        began = time.perf_counter()
        cpu = time.process_time()
        for i in range(0, len(bodies), args.batch):
            if profiling:
                profiler.enable()
            now = dt.datetime.now(dt.UTC)
            calls = []
            for j, body in enumerate(bodies[i : i + args.batch]):
                decoded = decode_telephony(body, now, limits)
                if isinstance(decoded, ComplaintReceivedV1):
                    calls.append(InboundCall(decoded, f"bench-{i + j}"))
            outcome = app.register(calls)
            if profiling:
                profiler.disable()
            assert len(outcome.registered) == len(calls), outcome
        wall = time.perf_counter() - began
        cpu_s = time.process_time() - cpu
    finally:
        keys.close()
        app.close()
        if args.keep:
            print(f"kept: AFTERSALES_NAMESPACE={settings.namespace}", file=sys.stderr)
        with psycopg.connect(database_url, autocommit=True) as conn:
            for schema in [] if args.keep else schemas:
                conn.execute(SQL("DROP SCHEMA IF EXISTS {0} CASCADE").format(Identifier(schema)))

    if args.timer == "none":
        print(f"intake, {args.count} complaints in batches of {args.batch}, no profiler: {wall:.2f} s wall,"
              f" {1e6 * cpu_s / args.count:,.0f} µs CPU per complaint")  # fmt: skip
        return 0
    n = args.count
    print(f"`{' '.join(['python -m bench.profile_intake', *(argv if argv is not None else sys.argv[1:])])}`"
          f" — profiler timer: {args.timer}\n")  # fmt: skip
    print(f"intake, {n} complaints in batches of {args.batch}: {wall:.2f} s wall, {cpu_s:.2f} s CPU of this"
          f" process (with profiler overhead) = {1e6 * cpu_s / n:,.0f} µs CPU per complaint\n")  # fmt: skip
    print_profile(profiler, n, area_of, args.top, self_top=args.top // 2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
