"""Where dispatch's time goes: cProfile of dispatch consuming intake's events for a number of
complaints, in this process, on the real stores (eventsourcing on PostgreSQL, `DATABASE_URL`, fresh
schemas dropped at the end).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test .venv/bin/python -m bench.profile_dispatch [--count 3000]

Not profiled: intake registers the complaints (as `bench.profile_intake` does) and its stored events
are turned into the relay's wire bytes (`to_envelope` + `encode_envelope`). Profiled per batch of
`--batch` (200, dispatch's upstream batch size): what the upstream consumer runs — `decode_envelope`
and `payload` per message (`shared.runtime.upstream._decoded`), then
`DispatchApplication.handle_upstream` (load cases, `Case.open`, rules, deadlines, eventsourcing,
transcoder, tracking position, psycopg). Not in it: fetching/acking on NATS, the in-order gate and
the relay's publishing. Prints self time by area and the top functions (markdown).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import os
import sys
import time
import uuid
from collections.abc import Callable

import psycopg
from psycopg.sql import SQL, Identifier

from bench.profile_intake import messages
from bench.profiling import classifier, print_profile
from services.dispatch.application import DispatchApplication
from services.intake.application import InboundCall, IntakeApplication
from shared.events.catalog import payload
from shared.events.envelope import Envelope, decode_envelope, encode_envelope
from shared.events.telephony import ComplaintReceivedV1, decode_telephony
from shared.runtime.relay import to_envelope
from shared.runtime.settings import Settings
from shared.runtime.store import build_application
from shared.security.keystore import PostgresKeyStore

AREAS: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("psycopg / PostgreSQL wire", lambda f: "psycopg" in f),
    ("eventsourcing", lambda f: "eventsourcing" in f),
    ("msgspec / JSON", lambda f: "msgspec" in f or "json" in f),
    ("rules / calendar", lambda f: "policy.py" in f or "workcal" in f or "calendar" in f or "decisions" in f),
    ("dispatch domain + application", lambda f: "services/dispatch" in f),
    ("shared (store, deadlines, events)", lambda f: "/shared/" in f),
    ("uuid", lambda f: "uuid" in f),
    ("datetime / zoneinfo", lambda f: "datetime" in f or "zoneinfo" in f),
    ("copy / deepcopy", lambda f: "copy.py" in f),
    ("structlog / logging", lambda f: "structlog" in f or "logging" in f),
)


area_of = classifier(AREAS)


def intake_wire(database_url: str, settings: Settings, count: int, schemas: list[str]) -> list[bytes]:
    """Register `count` complaints with intake and return its events as the relay publishes them."""
    intake = build_application(IntakeApplication, database_url, schemas[0], max_event_bytes=settings.max_event_bytes)
    keys = PostgresKeyStore(database_url, schemas[1])
    keys.open()
    intake.use_keys(keys)
    try:
        now, bodies = dt.datetime.now(dt.UTC), messages(count)
        for i in range(0, count, 500):
            decoded = [decode_telephony(b, now, settings.door_limits) for b in bodies[i : i + 500]]
            intake.register(
                [InboundCall(c, f"bench-{i + j}") for j, c in enumerate(decoded) if isinstance(c, ComplaintReceivedV1)]
            )
        out: list[bytes] = []
        while batch := intake.recorder.select_notifications(start=len(out) + 1, limit=1000):
            out += [encode_envelope(to_envelope("intake", n.id, intake.mapper.to_domain_event(n))) for n in batch]
        return out
    finally:
        keys.close()
        intake.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--count", type=int, default=3000)
    p.add_argument("--batch", type=int, default=200)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--timer", choices=("cpu", "wall", "none"), default="cpu",
                   help="cpu: CPU time (default); wall: also the waits on PostgreSQL; none: no profiler")  # fmt: skip
    args = p.parse_args(argv)
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        p.error("DATABASE_URL must be set (e.g. the system PostgreSQL)")
    settings = Settings(nats_url="nats://unused", database_url=database_url, namespace="p" + uuid.uuid4().hex[:8])
    names = settings.names
    schemas = [names.db_schema("intake"), names.db_schema("pii"), names.db_schema("dispatch")]
    profiler = cProfile.Profile(time.process_time) if args.timer == "cpu" else cProfile.Profile()
    profiling = args.timer != "none"
    app: DispatchApplication | None = None
    try:
        wire = intake_wire(database_url, settings, args.count, schemas)
        app = build_application(DispatchApplication, database_url, schemas[2], max_event_bytes=settings.max_event_bytes)
        warm = 0  # the first batch warms up (imports, prepared statements, calendar), not profiled
        began = cpu = 0.0
        for i in range(0, len(wire), args.batch):
            if i == args.batch:
                warm, began, cpu = i, time.perf_counter(), time.process_time()
            on = profiling and i >= args.batch
            if on:
                profiler.enable()
            envelopes = [decode_envelope(m) for m in wire[i : i + args.batch]]
            for envelope in envelopes:
                payload(envelope)
            app.handle_upstream("intake", [e for e in envelopes if isinstance(e, Envelope)], "intake")
            if on:
                profiler.disable()
        wall = time.perf_counter() - began
        cpu_s = time.process_time() - cpu
        cases = app.recorder.max_notification_id() or 0
    finally:
        if app is not None:
            app.close()
        with psycopg.connect(database_url, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(SQL("DROP SCHEMA IF EXISTS {0} CASCADE").format(Identifier(schema)))

    n = args.count * (len(wire) - warm) / len(wire)  # complaints whose events were measured
    head = (f"dispatch, {len(wire)} intake events ({len(wire) / args.count:.1f} per complaint, {cases} dispatch"
            f" events stored) in batches of {args.batch}, first batch as warm-up")  # fmt: skip
    if args.timer == "none":
        print(f"{head}, no profiler: {wall:.2f} s wall, {1e6 * cpu_s / n:,.0f} µs CPU per complaint")
        return 0
    print(f"`{' '.join(['python -m bench.profile_dispatch', *(argv if argv is not None else sys.argv[1:])])}`"
          f" — profiler timer: {args.timer}\n")  # fmt: skip
    print(f"{head}: {wall:.2f} s wall, {cpu_s:.2f} s CPU of this process (with profiler overhead)"
          f" = {1e6 * cpu_s / n:,.0f} µs CPU per complaint\n")  # fmt: skip
    print_profile(profiler, n, area_of, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
