"""Where reporting's time goes: cProfile of the projection consuming intake's and dispatch's events
for a number of complaints, in this process, on the real stores (`DATABASE_URL`, fresh schemas
dropped at the end).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test .venv/bin/python -m bench.profile_reporting [--count 3000]

Not profiled: intake registers the complaints, dispatch consumes intake's events, and both stores'
events are turned into the relay's wire bytes. Profiled, per batch of `--batch` (500, the default
batch size) and per upstream in turn (intake's, then dispatch's): what `on_events` runs —
`decode_envelope` + `payload` per message, then `ReportingStore.project` (locks, position, read the
views and parked events, `fold_batch`, upsert of the JSONB documents, position, notify). Not in it:
fetching/acking on NATS, the in-order gate, faststream.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import sys
import time
import uuid
from collections.abc import Callable

import psycopg
from psycopg.sql import SQL, Identifier

from bench.profile_dispatch import AREAS as DISPATCH_AREAS
from bench.profile_dispatch import intake_wire
from bench.profiling import classifier, print_profile
from services.dispatch.application import DispatchApplication
from services.reporting.application import ReportingStore
from shared.events.catalog import payload
from shared.events.envelope import decode_envelope, encode_envelope
from shared.runtime.relay import to_envelope
from shared.runtime.settings import Settings
from shared.runtime.store import build_application

AREAS: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("reporting projection + store", lambda f: "services/reporting" in f),
    *(a for a in DISPATCH_AREAS if not a[0].startswith("dispatch")),
)


area_of = classifier(AREAS)


def dispatch_wire(database_url: str, settings: Settings, schema: str, intake: list[bytes]) -> list[bytes]:
    """Dispatch consumes intake's events; return dispatch's events as its relay publishes them."""
    app = build_application(DispatchApplication, database_url, schema, max_event_bytes=settings.max_event_bytes)
    try:
        for i in range(0, len(intake), 200):
            app.handle_upstream("intake", [decode_envelope(m) for m in intake[i : i + 200]], "intake")
        out: list[bytes] = []
        while batch := app.recorder.select_notifications(start=len(out) + 1, limit=1000):
            out += [encode_envelope(to_envelope("dispatch", n.id, app.mapper.to_domain_event(n))) for n in batch]
        return out
    finally:
        app.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--count", type=int, default=3000)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--timer", choices=("cpu", "wall", "none"), default="cpu",
                   help="cpu: CPU time (default); wall: also the waits on PostgreSQL; none: no profiler")  # fmt: skip
    args = p.parse_args(argv)
    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        p.error("DATABASE_URL must be set (e.g. the system PostgreSQL)")
    settings = Settings(nats_url="nats://unused", database_url=database_url, namespace="p" + uuid.uuid4().hex[:8])
    names = settings.names
    schemas = [names.db_schema(s) for s in ("intake", "pii", "dispatch", "reporting")]
    profiler = cProfile.Profile(time.process_time) if args.timer == "cpu" else cProfile.Profile()
    store = ReportingStore(database_url, schemas[3])
    try:
        intake = intake_wire(database_url, settings, args.count, schemas)
        wire = {"intake": intake, "dispatch": dispatch_wire(database_url, settings, schemas[2], intake)}
        store.open()
        store.create()
        # warm-up (imports, prepared statements, pool), not profiled: the first batch of each upstream
        warm = {u: ws[: args.batch] for u, ws in wire.items()}
        for upstream, ws in warm.items():
            store.project(upstream, [decode_envelope(m) for m in ws])
        began, cpu = time.perf_counter(), time.process_time()
        measured = 0
        for upstream, ws in wire.items():
            for i in range(args.batch, len(ws), args.batch):
                if args.timer != "none":
                    profiler.enable()
                envelopes = [decode_envelope(m) for m in ws[i : i + args.batch]]
                for envelope in envelopes:
                    payload(envelope)
                measured += store.project(upstream, envelopes)
                if args.timer != "none":
                    profiler.disable()
        wall, cpu_s = time.perf_counter() - began, time.process_time() - cpu
        views = store.complaint_count()
    finally:
        store.close()
        with psycopg.connect(database_url, autocommit=True) as conn:
            for schema in schemas:
                conn.execute(SQL("DROP SCHEMA IF EXISTS {0} CASCADE").format(Identifier(schema)))

    total = sum(len(ws) for ws in wire.values())
    n = args.count * measured / total  # complaints whose events were measured
    per = ", ".join(f"{len(ws) / args.count:.1f} {u}" for u, ws in wire.items())
    head = (f"reporting, {total} events ({per} per complaint; {views} views) in batches of {args.batch},"
            f" first batch of each upstream as warm-up")  # fmt: skip
    if args.timer == "none":
        print(f"{head}, no profiler: {wall:.2f} s wall, {1e6 * cpu_s / n:,.0f} µs CPU per complaint")
        return 0
    print(f"`{' '.join(['python -m bench.profile_reporting', *(argv if argv is not None else sys.argv[1:])])}`"
          f" — profiler timer: {args.timer}\n")  # fmt: skip
    print(f"{head}: {wall:.2f} s wall, {cpu_s:.2f} s CPU of this process (with profiler overhead)"
          f" = {1e6 * cpu_s / n:,.0f} µs CPU per complaint\n")  # fmt: skip
    print_profile(profiler, n, area_of, args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
