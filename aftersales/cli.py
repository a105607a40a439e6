"""`aftersales`: run the services, simulate traffic, and operate the system."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.runtime.settings import Settings


SERVICES = ("intake", "dispatch", "parts", "reporting", "api")


def _settings() -> Settings:
    from shared.runtime.settings import Settings

    return Settings.from_env()


# --------------------------------------------------------------------------- run one service


HARD_STOP_S = 10.0
"""After SIGTERM/SIGINT a service exits within this many seconds, whatever it is waiting for."""


def _exit_within(seconds: float) -> None:
    """Make sure this process ends: a thread blocked in a driver call (a connect to a database that
    is away, with the library's retries) would otherwise keep `asyncio.run` waiting at exit."""

    def hard_exit() -> None:
        sys.stderr.write(f"aftersales: not stopped after {seconds:.0f}s, exiting now\n")
        sys.stderr.flush()
        os._exit(1)

    timer = threading.Timer(seconds, hard_exit)
    timer.daemon = True
    timer.start()


async def _run_service(name: str, relay: bool, consume: bool) -> None:
    from shared.runtime.logs import configure_logging

    configure_logging(name)
    settings = _settings()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def request_stop() -> None:
        if stop.is_set():
            os._exit(1)  # asked twice: stop now
        stop.set()
        _exit_within(HARD_STOP_S)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, request_stop)
    try:
        await _build_and_run(name, relay, consume, settings, stop)
    finally:
        if not stop.is_set():
            _exit_within(HARD_STOP_S)  # ended on its own (a failed start): exit, for the supervisor to restart


async def _build_and_run(name: str, relay: bool, consume: bool, settings: Settings, stop: asyncio.Event) -> None:
    if name == "intake":
        from services.intake.main import build as build_intake

        runtime = await asyncio.to_thread(build_intake, settings, run_relay=relay, consume=consume)
    elif name == "dispatch":
        from services.dispatch.main import build as build_dispatch

        runtime = await asyncio.to_thread(build_dispatch, settings, run_relay=relay)
    elif name == "parts":
        from services.parts.main import build as build_parts

        runtime = await asyncio.to_thread(build_parts, settings, run_relay=relay)
    else:
        from services.reporting.main import build as build_reporting

        runtime, store = await asyncio.to_thread(build_reporting, settings)
        try:
            await runtime.run_forever(stop)
        finally:
            await asyncio.to_thread(store.close)
        return
    await runtime.run_forever(stop)


def cmd_run(args: argparse.Namespace) -> int:
    if args.service == "api":
        import uvicorn

        from aftersales.replay import read_dossier
        from services.reporting.api import create_api
        from services.reporting.main import build_store
        from shared.runtime.logs import configure_logging

        configure_logging("api")
        settings = _settings()
        uvicorn.run(
            create_api(
                lambda: build_store(settings),
                settings.nats_url,
                settings.names,
                nats_options=settings.nats_options,
                read_dossier=lambda complaint_no: read_dossier(settings, complaint_no),
            ),
            host=settings.http_host,
            port=settings.http_port,
            log_level="warning",
            timeout_graceful_shutdown=5,
        )
        return 0
    if args.partitions is not None:  # this instance's share (shared/runtime/partitions.py)
        os.environ["AFTERSALES_PARTITIONS"] = args.partitions
    asyncio.run(_run_service(args.service, relay=not args.no_relay, consume=not args.relay_only))
    return 0


# --------------------------------------------------------------------------- up


def _demo_users(env: dict[str, str]) -> dict[str, str]:
    """docs/contract.md §6: one demo person per role, tokens printed once (new ones on every start)."""
    from aftersales.users import demo_users
    from shared.events.subjects import Names

    tokens = demo_users(env["DATABASE_URL"], Names(env.get("AFTERSALES_NAMESPACE", "")).db_schema("auth"))
    print("demo: one user per role (aftersales users list); send a token as `Authorization: Bearer <token>`,")
    print("demo: or log in at /console/login. Tokens of this start (only their hashes are stored):")
    for role, token in tokens.items():
        print(f"demo:   {role:<18} {token}")
    return tokens


def _demo(env: dict[str, str], telephony: Path | None) -> None:
    """Publish sample calls as the telephony system does (as the `telephony` user when NATS has users)."""
    import httpx

    from aftersales.simulate import simulate
    from shared.events.subjects import Names
    from shared.runtime.natsauth import NatsCredentials, connect_options

    tokens = _demo_users(env)
    auth = {"Authorization": f"Bearer {tokens['viewer']}"}
    names = Names(env.get("AFTERSALES_NAMESPACE", ""))
    options = connect_options(NatsCredentials.read(telephony) if telephony is not None else None)
    print("demo: publishing 20 telephony calls (with a few duplicates and bad messages) …", flush=True)
    stats = asyncio.run(
        simulate(env["NATS_URL"], names, count=20, rate=None, duplicate_ratio=0.2, bad_ratio=0.1, seed=7,
                 nats_options=options)
    )  # fmt: skip
    base = f"http://127.0.0.1:{env['AFTERSALES_HTTP_PORT']}"
    deadline = time.monotonic() + 30
    found: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        found = httpx.get(f"{base}/api/v1/complaints", params={"call_id": stats.call_ids[-1]}, headers=auth).json()
        if found:
            break
        time.sleep(0.2)
    register = httpx.get(f"{base}/api/v1/reports/tracking-register", headers=auth).json()
    print(f"demo: sent {stats.sent} calls, {stats.duplicates} duplicates, {stats.bad} bad messages")
    print(f"demo: the tracking register holds {len(register)} complaints; the last one:")
    print(json.dumps(found[0] if found else None, ensure_ascii=False, indent=2)[:1500])
    print(f"demo: browse {base}/docs (Authorize with a token), {base}/api/v1/reports/tracking-register, "
          f"{base}/metrics", flush=True)  # fmt: skip
    print(f'demo: e.g. curl -H "Authorization: Bearer {tokens["viewer"]}" {base}/api/v1/reports/kpis', flush=True)
    if found:
        no = found[0]["complaint_no"]
        print(f"demo: the last complaint in Chinese: {base}/console/complaints/{no}, its dossier"
              f" {base}/api/v1/complaints/{no}/dossier?format=pdf", flush=True)  # fmt: skip


def _healthy(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _partition_count(env: dict[str, str], instances: int, data_dir: Path) -> int:
    """The partition count for `--instances` (`AFTERSALES_PARTITION_COUNT`, default the instances),
    set in `env` for every child. It is part of the data (positions are kept per partition): the
    count first used with this data dir is kept in it, and another one is refused."""
    count = int(env.get("AFTERSALES_PARTITION_COUNT") or (instances if instances > 1 else 1))
    kept = data_dir / "partition-count"
    if kept.exists() and int(kept.read_text()) != count:
        raise SystemExit(
            f"up: this data dir runs {kept.read_text().strip()} partitions, not {count}: set"
            f" AFTERSALES_PARTITION_COUNT={kept.read_text().strip()} (README, 'Partitions and instances')"
        )
    if count > 1:
        data_dir.mkdir(parents=True, exist_ok=True)
        kept.write_text(f"{count}\n")
    env["AFTERSALES_PARTITION_COUNT"] = str(count)
    return count


def cmd_up(args: argparse.Namespace) -> int:
    """Start every service and keep them running: a child that exits is restarted with backoff
    (`aftersales.processes.Supervisor`); SIGINT/SIGTERM stop them all within seconds.

    The embedded NATS has one user per process (shared/runtime/natsauth.py) with passwords generated
    now, in `<data-dir>/nats-credentials/` (mode 0600); each child gets its own file through
    `AFTERSALES_NATS_CREDENTIALS`. With `NATS_URL` given, the children connect as the environment says."""
    from aftersales.processes import Supervisor, user_of, with_instances
    from shared.events.subjects import Names
    from shared.runtime.checkpoints import create_key
    from shared.runtime.embedded import EmbeddedNats, free_port, start_postgres
    from shared.runtime.natsauth import write_run_credentials

    data_dir = Path(args.data_dir).resolve()
    env = dict(os.environ)
    partition_count = _partition_count(env, args.instances, data_dir)
    nats_server = None
    credentials: dict[str, Path] = {}
    if not env.get("NATS_URL"):
        names = Names(env.get("AFTERSALES_NAMESPACE", ""))
        authorization, credentials = write_run_credentials(data_dir / "nats-credentials", names)
        nats_server = EmbeddedNats.start(data_dir / "nats", port=args.nats_port, authorization=authorization)
        env["NATS_URL"] = nats_server.url
        env.pop("AFTERSALES_NATS_CREDENTIALS", None)
        print(f"up: embedded NATS JetStream at {nats_server.url}, one user per process", flush=True)
        print(f"up: NATS credentials in {credentials['ops'].parent} (operator commands:"
              f" AFTERSALES_NATS_CREDENTIALS={credentials['ops']})", flush=True)  # fmt: skip
    if not env.get("DATABASE_URL"):
        env["DATABASE_URL"] = start_postgres(data_dir / "pg")
        print(f"up: embedded PostgreSQL at {env['DATABASE_URL']}", flush=True)
    env.setdefault("AFTERSALES_HTTP_PORT", str(args.port or free_port()))
    if not env.get("AFTERSALES_CHECKPOINT_KEY"):  # the signing key lives beside the database, never in it
        env["AFTERSALES_CHECKPOINT_KEY"] = str(data_dir / "keys" / "checkpoint-ed25519.pem")
    create_key(Path(env["AFTERSALES_CHECKPOINT_KEY"]))
    print(f"up: chain checkpoints signed with {env['AFTERSALES_CHECKPOINT_KEY']}", flush=True)
    metrics_dir = data_dir / "metrics"
    metrics_dir.mkdir(parents=True, exist_ok=True)
    for stale in metrics_dir.glob("*.db"):
        stale.unlink()
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    processes = with_instances(args.instances, partition_count, leases=args.leases)
    # An external NATS (NATS_URL given) has no users of ours: every child connects as before.
    own_user = {
        name: {"AFTERSALES_NATS_CREDENTIALS": str(credentials[user_of(name)])} for name in processes if credentials
    }
    supervisor = Supervisor(env, processes, child_env=own_user if credentials else None)
    stop = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        supervisor.start()
        base = f"http://127.0.0.1:{env['AFTERSALES_HTTP_PORT']}"
        deadline = time.monotonic() + 60
        while not stop and not _healthy(f"{base}/healthz"):
            if time.monotonic() > deadline:
                print(f"up: {base}/healthz did not answer within 60s", file=sys.stderr)
                return 1
            supervisor.poll()
            time.sleep(0.2)
        if stop:
            return 0
        pids = ", ".join(f"{name}={supervisor.pid(name)}" for name in supervisor.children)
        print(f"up: all services running ({pids}); read API at {base} (Ctrl-C stops)", flush=True)
        if args.demo:
            _demo(env, credentials.get("telephony"))
        if args.exit_after_demo:
            return 0
        while not stop:
            supervisor.poll()
            time.sleep(0.2)
        return 0
    finally:
        supervisor.stop()
        if nats_server is not None:
            nats_server.stop()
        print("up: stopped", flush=True)


# --------------------------------------------------------------------------- simulate, tick, rebuild


def cmd_simulate(args: argparse.Namespace) -> int:
    from aftersales.simulate import simulate

    settings = _settings()
    start = dt.datetime.fromisoformat(args.start) if args.start else None
    stats = asyncio.run(
        simulate(
            settings.nats_url,
            settings.names,
            count=args.count,
            rate=args.rate or None,
            duplicate_ratio=args.duplicates,
            bad_ratio=args.bad,
            seed=args.seed,
            start=start,
            nats_options=settings.nats_options,
        )
    )
    print(
        f"sent={stats.sent} duplicates={stats.duplicates} bad={stats.bad} "
        f"seconds={stats.seconds:.2f} rate={stats.sent / max(stats.seconds, 1e-9):.0f}/s"
    )
    return 0


def cmd_tick(args: argparse.Namespace) -> int:
    import nats

    from shared.runtime.clock import encode_tick

    settings = _settings()
    now = dt.datetime.fromisoformat(args.now)
    if now.tzinfo is None:
        print("tick: the time needs a UTC offset, e.g. 2026-11-24T09:00:00+08:00", file=sys.stderr)
        return 2

    async def publish() -> None:
        nc = await nats.connect(settings.nats_url, **settings.nats_options)
        await nc.jetstream().publish(settings.names.clock_tick, encode_tick(now))
        await nc.drain()

    asyncio.run(publish())
    return 0


def cmd_rebuild(args: argparse.Namespace) -> int:
    """Drop the read model and reporting's consumers; the projector rebuilds from the streams."""
    import nats

    from services.reporting.handlers import UPSTREAMS
    from services.reporting.main import build_store
    from shared.runtime.partitions import Partition

    settings = _settings()
    build_store(settings).drop()

    async def reset() -> None:
        nc = await nats.connect(settings.nats_url, **settings.nats_options)
        js = nc.jetstream()
        for upstream in UPSTREAMS:  # the single consumer and every partition's, whatever the count
            stream = settings.names.events_stream(upstream)
            single = settings.names.durable(Partition().durable("reporting", upstream))
            with contextlib.suppress(nats.js.errors.NotFoundError):
                for consumer in await js.consumers_info(stream):
                    name = consumer.name or ""
                    if name == single or re.fullmatch(re.escape(single) + r"-p\d+", name):
                        await js.delete_consumer(stream, name)
        await nc.drain()

    asyncio.run(reset())
    print("reporting read model dropped; restart the reporting service to rebuild it from the streams")
    return 0


TIMER_SERVICES = ("intake", "dispatch", "parts")


def cmd_timers(args: argparse.Namespace) -> int:
    """List parked timers (with their reason), or release one so the next tick fires it again."""
    from shared.runtime.store import PostgresStore

    settings = _settings()
    released = False
    for service in (args.service,) if args.service else TIMER_SERVICES:
        store = PostgresStore(service, settings.database_url, settings.names.db_schema(service))
        try:
            recorder = store.recorder
            if args.timers_command == "parked":
                for timer in recorder.parked_timers():
                    print(f"{service}\t{timer.timer_id}\t{timer.parked_at.isoformat()}\t{timer.reason}")
            elif recorder.release_timer(args.timer_id):
                print(f"released {args.timer_id} ({service}): it fires on the next tick")
                released = True
        finally:
            store.close()
    if args.timers_command == "release" and not released:
        print(f"no parked timer {args.timer_id}", file=sys.stderr)
        return 1
    return 0


def _write_or_check(path: Path, text: str, check: bool, command: str) -> int:
    """Write a generated file, or with `--check` say (exit 1) that the committed one is stale."""
    if check:
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            print(f"{path} is stale: run `aftersales {command}`", file=sys.stderr)
            return 1
        return 0
    path.write_text(text, encoding="utf-8")
    return 0


def cmd_asyncapi(args: argparse.Namespace) -> int:
    from aftersales.specs import asyncapi_json

    text = asyncapi_json()
    return _write_or_check(Path(args.output), text, args.check, "asyncapi")


def cmd_nats_config(args: argparse.Namespace) -> int:
    """The NATS users and permissions of production (deploy/nats/users.conf), for the empty namespace."""
    from shared.events.subjects import Names
    from shared.runtime.natsauth import users_conf

    text = users_conf(Names())
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    return _write_or_check(Path(args.output), text, args.check, "nats-config")


def cmd_openapi(args: argparse.Namespace) -> int:
    from aftersales.specs import openapi_json

    text = openapi_json()
    return _write_or_check(Path(args.output), text, args.check, "openapi")


# --------------------------------------------------------------------------- disputes (docs/contract.md §5)


def _utf8_stdout() -> None:
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(encoding="utf-8")


def cmd_replay(args: argparse.Namespace) -> int:
    from aftersales.replay import (
        History,
        as_document,
        complaint_history,
        fine_history,
        part_history,
        render_text,
        replay_rate,
    )

    _utf8_stdout()
    history = History(_settings())
    try:
        if args.subject == "all":
            events, decisions, failed, seconds = replay_rate(history)
            rate = events / seconds if seconds else 0.0
            print(f"replayed {events} events, re-evaluated {decisions} decisions in {seconds:.2f} s "
                  f"({rate:,.0f} events/s); {failed} not reproduced")  # fmt: skip
            return 1 if failed else 0
        as_of = dt.datetime.fromisoformat(args.as_of) if args.as_of else None
        if as_of is not None and as_of.tzinfo is None:
            print("--as-of needs a UTC offset, e.g. 2026-11-24T09:00:00+08:00", file=sys.stderr)
            return 2
        if args.subject == "complaint":
            steps = complaint_history(history, args.id, as_of)
        elif args.subject == "fine":
            steps = fine_history(history, args.id)
        else:
            steps = part_history(history, args.id)
        if as_of is not None:
            steps = [s for s in steps if s.envelope.occurred_at <= as_of]
        if not steps:
            print(f"no {args.subject} {args.id} in any event store", file=sys.stderr)
            return 2
        document = as_document(f"{args.subject} {args.id}", steps)
        if args.json:  # the recorded facts as they are (personal data sealed), to re-run elsewhere
            print(json.dumps(document, ensure_ascii=False, indent=2, default=str))
        else:
            from shared.security.keystore import PostgresKeyStore
            from shared.security.personal import reveal_document, sealed_key_ids

            title = f"{args.subject} {args.id}" + (f" as of {args.as_of}" if args.as_of else "")
            # PII-VIEW: personal data masked on the command line (`已删除` once erased).
            keys = PostgresKeyStore(history.settings.database_url, history.settings.names.db_schema("pii"), 1)
            keys.open()
            try:
                live = keys.live_keys(sealed_key_ids([s.envelope.data for s in steps]))
            finally:
                keys.close()
            print(render_text(title, steps, lambda data: reveal_document(data, None, live)))
        return 0 if document["reproduced"] else 1
    finally:
        history.close()


EMBEDDED_KEY = Path(".aftersales") / "keys" / "checkpoint-ed25519.pem"


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from aftersales.audit import verify_all

    settings = _settings()
    if args.public_key:
        settings = dataclasses.replace(settings, checkpoint_public_key=args.public_key)
    elif settings.checkpoint_key is None and settings.checkpoint_public_key is None and EMBEDDED_KEY.exists():
        settings = dataclasses.replace(settings, checkpoint_key=str(EMBEDDED_KEY))  # what `aftersales up` made
    verdicts = verify_all(settings)
    for v in verdicts:
        status = "ok" if v.ok else f"BROKEN: {v.problem}"
        print(f"{v.service:<9} {v.events:>8} events chained  {status}")
        for problem in v.problems[1:]:
            print(f"{'':<9} BROKEN: {problem}")
        for note in v.notes:
            print(f"{'':<9} note: {note}")
    return 0 if all(v.ok for v in verdicts) else 1


def cmd_audit_keygen(args: argparse.Namespace) -> int:
    from shared.runtime.checkpoints import load_signer, public_pem

    path = Path(args.path)
    existed = path.exists()
    verifier = load_signer(path, create=True).verifier
    print(f"{'kept the existing' if existed else 'wrote a new'} checkpoint key {path} (key id {verifier.key_id})",
          file=sys.stderr)  # fmt: skip
    print(public_pem(verifier), end="")
    return 0


def cmd_dossier(args: argparse.Namespace) -> int:
    from aftersales.replay import History, as_document, chain_hashes, complaint_history, dossier_html
    from services.reporting.main import build_store
    from shared.security.keystore import PostgresKeyStore
    from shared.security.personal import install_key_reader, reveal_with

    settings = _settings()
    history = History(settings)
    store = build_store(settings)
    keys = PostgresKeyStore(settings.database_url, settings.names.db_schema("pii"))
    try:
        steps = complaint_history(history, args.complaint_no)
        if not steps:
            print(f"no complaint {args.complaint_no}", file=sys.stderr)
            return 2
        store.open()
        keys.open()

        def shown(document: Any) -> Any:
            """PII-VIEW: a dossier is handed to other parties, so personal data is masked (`已删除` once erased)."""
            return reveal_with(keys, document, None)

        raw_view = store.complaint(args.complaint_no)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        if args.format == "json":
            view = shown(raw_view)
            document = shown({**as_document(f"complaint {args.complaint_no}", steps), "view": view})
            (out / f"{args.complaint_no}.json").write_text(
                json.dumps(document, ensure_ascii=False, indent=2, default=str), encoding="utf-8"
            )
            page = dossier_html(args.complaint_no, steps, view, shown)
            (out / f"{args.complaint_no}.html").write_text(page, encoding="utf-8")
            print(f"wrote {out / (args.complaint_no + '.json')} and {out / (args.complaint_no + '.html')}")
            return 0 if document["reproduced"] else 1
        from services.reporting.dossier import render
        from services.reporting.timeline import build

        install_key_reader(keys)  # the summary's personal data through personal_view, masked (no role)
        timeline = build(args.complaint_no, steps, chain_hashes(settings, steps))
        printable = render.dossier_html(timeline, raw_view)
        target = out / f"{args.complaint_no}.{args.format}"
        if args.format == "html":
            target.write_text(printable, encoding="utf-8")
        else:
            try:
                target.write_bytes(render.pdf_bytes(printable))
            except render.PdfUnavailable as exc:
                print(f"cannot make the PDF: {exc}", file=sys.stderr)
                return 2
        print(f"wrote {target}")
        return 0 if timeline.not_reproduced == 0 else 1
    finally:
        keys.close()
        store.close()
        history.close()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aftersales", description="Event-sourced after-sales service backend")
    sub = p.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start every service (embedded NATS and PostgreSQL unless given)")
    up.add_argument("--data-dir", default=".aftersales")
    up.add_argument("--port", type=int, default=None, help="HTTP port (default AFTERSALES_HTTP_PORT or free)")
    up.add_argument("--nats-port", type=int, default=None)
    up.add_argument("--instances", type=int, default=1,
                    help="instances of dispatch, parts and reporting each (partitioned by complaint)")  # fmt: skip
    up.add_argument("--leases", action="store_true",
                    help="with --instances: fenced leases, survivors take a dead instance's partitions")  # fmt: skip
    up.add_argument("--demo", action="store_true", help="publish sample calls and show what they became")
    up.add_argument("--exit-after-demo", action="store_true", help=argparse.SUPPRESS)
    up.set_defaults(func=cmd_up)

    run = sub.add_parser("run", help="run one service in this process")
    run.add_argument("service", choices=SERVICES)
    run.add_argument("--no-relay", action="store_true", help="do not publish recorded events")
    run.add_argument("--relay-only", action="store_true", help="only publish recorded events")
    run.add_argument("--partitions", default=None,
                     help="partitions it owns, e.g. 0-1, or auto (default: AFTERSALES_PARTITIONS)")  # fmt: skip
    run.set_defaults(func=cmd_run)

    sim = sub.add_parser("simulate", help="publish realistic telephony traffic")
    sim.add_argument("--count", type=int, default=1000)
    sim.add_argument("--rate", type=float, default=200.0, help="calls per second (0: full speed)")
    sim.add_argument("--duplicates", type=float, default=0.05)
    sim.add_argument("--bad", type=float, default=0.01)
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--start", default=None, help="received_at of the first call (ISO, with offset)")
    sim.set_defaults(func=cmd_simulate)

    tick = sub.add_parser("tick", help="publish an external clock tick")
    tick.add_argument("now", help="e.g. 2026-11-24T09:00:00+08:00")
    tick.set_defaults(func=cmd_tick)

    rep = sub.add_parser("reporting", help="reporting operations")
    rep_sub = rep.add_subparsers(dest="reporting_command", required=True)
    rebuild = rep_sub.add_parser("rebuild", help="drop the read model so it is rebuilt from the streams")
    rebuild.set_defaults(func=cmd_rebuild)

    timers = sub.add_parser("timers", help="timers parked because firing them failed")
    timers_sub = timers.add_subparsers(dest="timers_command", required=True)
    parked = timers_sub.add_parser("parked", help="list parked timers: service, timer id, parked at, reason")
    release = timers_sub.add_parser("release", help="let a parked timer fire again on the next tick")
    release.add_argument("timer_id")
    for command in (parked, release):
        command.add_argument("--service", choices=TIMER_SERVICES, default=None, help="default: every service")
        command.set_defaults(func=cmd_timers)

    replay = sub.add_parser("replay", help="a history with every decision re-evaluated (exit 1 if one differs)")
    replay_sub = replay.add_subparsers(dest="subject", required=True)
    for subject, what in (("complaint", "complaint_no"), ("fine", "fine_id"), ("part", "part_id")):
        one = replay_sub.add_parser(subject, help=f"replay one {subject}")
        one.add_argument("id", metavar=what)
        one.add_argument("--as-of", default=None, help="as the system knew it then (ISO time with offset)")
        one.add_argument("--json", action="store_true")
        one.set_defaults(func=cmd_replay)
    every = replay_sub.add_parser("all", help="re-evaluate every decision in every store and give the rate")
    every.set_defaults(func=cmd_replay)

    audit = sub.add_parser("audit", help="tamper evidence")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser("verify", help="check every stored event against its hash chain")
    verify.add_argument(
        "--public-key",
        default=None,
        help="PEM public key of the checkpoint signer (default: AFTERSALES_CHECKPOINT_PUBLIC_KEY, else derived"
        " from AFTERSALES_CHECKPOINT_KEY, else from .aftersales/keys/ of `aftersales up`)",
    )
    verify.set_defaults(func=cmd_audit_verify)
    keygen = audit_sub.add_parser(
        "keygen", help="create the Ed25519 checkpoint key (0600) unless it exists; print its public key"
    )
    keygen.add_argument("path", help="where the private key goes (AFTERSALES_CHECKPOINT_KEY), outside the database")
    keygen.set_defaults(func=cmd_audit_keygen)

    dossier = sub.add_parser("dossier", help="export a complaint's dossier (JSON, or a Chinese HTML or PDF)")
    dossier.add_argument("complaint_no")
    dossier.add_argument("--out", default=".")
    dossier.add_argument(
        "--format", choices=("json", "html", "pdf"), default="json",
        help="json: the raw events and a simple HTML (default); html, pdf: the Chinese timeline, printable",
    )  # fmt: skip
    dossier.set_defaults(func=cmd_dossier)

    from aftersales.deadletters import add_parser as add_deadletter_parser

    add_deadletter_parser(sub)

    for name, func, default, what in (
        ("asyncapi", cmd_asyncapi, "docs/asyncapi.json", "the asyncapi document"),
        ("openapi", cmd_openapi, "docs/openapi.json", "the openapi document"),
        ("nats-config", cmd_nats_config, "deploy/nats/users.conf", "the NATS users and permissions (`-`: print)"),
    ):
        spec = sub.add_parser(name, help=f"write {what} generated from the code")
        spec.add_argument("--output", default=default)
        spec.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
        spec.set_defaults(func=func)

    from aftersales.calendar import add_parser as add_calendar_parser
    from aftersales.users import add_parser as add_users_parser

    add_calendar_parser(sub)
    from aftersales.privacy import add_parser as add_privacy_parser

    add_privacy_parser(sub)
    add_users_parser(sub)

    from aftersales.screenshots import add_parser as add_screenshots_parser

    add_screenshots_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
