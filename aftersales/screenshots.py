"""`aftersales screenshots` (`./dev screenshots`): the console's pictures in docs/screenshots/, regenerated.

Starts every service on embedded NATS and PostgreSQL (or on `NATS_URL` / `DATABASE_URL` when set, in a
fresh namespace) with the external clock, drives the simulated week of aftersales/week.py, and has
Debian's chromium (aftersales/browser.py) photograph the dashboard, a complaint page, its dossier and
the work queue. A page that is missing, fails, or asks for anything outside the server is reported
and the command exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aftersales.week import StaffTokens, Week, run_week

SERVICE_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class Shot:
    file: str
    path: str
    """A path on the server; `{serviced}` etc. name complaints of the week."""
    wait_for: str | None = None
    """A CSS selector that is there once the page has drawn, if any."""
    full_page: bool = False
    """The whole page, else the first screen (1366 × 1000)."""


SHOTS = (
    Shot("dashboard.png", "/", "canvas"),
    Shot("complaint.png", "/console/complaints/{serviced}"),
    Shot("dossier.png", "/api/v1/complaints/{serviced}/dossier?format=html"),
    Shot("queue.png", "/console/queue?role=tq", "[data-testid=queue]", full_page=True),
)
VIEWPORT_HEIGHT = 1000
SETTLE_MS = 1500
"""After the page loaded: charts animate, live data arrives."""


def say(line: str) -> None:
    print(f"screenshots: {line}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def running_system(data_dir: Path) -> Iterator[dict[str, str]]:
    """Every service, external clock, on embedded servers under `data_dir` (wiped first) unless given."""
    from aftersales.processes import Supervisor
    from shared.runtime.embedded import EmbeddedNats, free_port, start_postgres

    env = dict(os.environ)
    nats_server = None
    if data_dir.exists():
        shutil.rmtree(data_dir)
    if not env.get("NATS_URL"):
        nats_server = EmbeddedNats.start(data_dir / "nats")
        env["NATS_URL"] = nats_server.url
    if not env.get("DATABASE_URL"):
        env["DATABASE_URL"] = start_postgres(data_dir / "pg")
    env.update(AFTERSALES_CLOCK="external", AFTERSALES_NAMESPACE="shots" + uuid.uuid4().hex[:8],
               AFTERSALES_HTTP_PORT=str(free_port()))  # fmt: skip
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    supervisor = Supervisor(env, say=say)
    try:
        supervisor.start()
        base = f"http://127.0.0.1:{env['AFTERSALES_HTTP_PORT']}"
        deadline = time.monotonic() + SERVICE_TIMEOUT_S
        while not _healthy(f"{base}/healthz"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{base}/healthz did not answer within {SERVICE_TIMEOUT_S:.0f}s")
            supervisor.poll()
            time.sleep(0.2)
        yield env
    finally:
        supervisor.stop()
        if nats_server is not None:
            nats_server.stop()


def _healthy(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


async def photograph(
    base_url: str, week: Week, out_dir: Path, headers: dict[str, str] | None = None, shots: tuple[Shot, ...] = SHOTS
) -> list[str]:
    """Write one PNG per shot, each page asked for with `headers` (a read-only viewer's credential);
    return what went wrong (empty: all written, nothing left the server)."""
    from aftersales.browser import chromium, guarded_context

    problems: list[str] = []
    async with chromium() as browser:
        for shot in shots:
            path = shot.path.format(**week.complaints)
            async with guarded_context(browser, base_url, height=VIEWPORT_HEIGHT, headers=headers) as (context, guard):
                page = await context.new_page()
                response = await page.goto(base_url + path, wait_until="load")
                if response is None or not response.ok:
                    problems.append(f"{shot.file}: GET {path} → {response and response.status}")
                    continue
                if shot.wait_for:
                    await page.wait_for_selector(shot.wait_for, timeout=15_000)
                await page.wait_for_timeout(SETTLE_MS)
                await page.screenshot(path=str(out_dir / shot.file), full_page=shot.full_page)
                if guard.outside:
                    problems.append(f"{shot.file}: requests outside the server: {guard.outside}")
                say(f"wrote {out_dir / shot.file} ({path})")
    return problems


def run(out_dir: Path, data_dir: Path) -> int:
    from aftersales.browser import missing
    from shared.events.subjects import Names

    reason = missing()
    if reason:
        say(f"cannot drive a browser: {reason}")
        return 1
    with running_system(data_dir) as env:
        base = f"http://127.0.0.1:{env['AFTERSALES_HTTP_PORT']}"
        say(f"services up at {base}; simulating the week of 2026-11-23 …")
        names = Names(env["AFTERSALES_NAMESPACE"])
        auth = StaffTokens(env["DATABASE_URL"], names)
        week = asyncio.run(run_week(env["NATS_URL"], env["DATABASE_URL"], names, base, auth=auth))
        out_dir.mkdir(parents=True, exist_ok=True)
        problems = asyncio.run(photograph(base, week, out_dir, auth.header()))  # personal data masked
    for problem in problems:
        say(problem)
    return 1 if problems else 0


def cmd_screenshots(args: argparse.Namespace) -> int:
    return run(Path(args.out), Path(args.data_dir).resolve())


def add_parser(sub: Any) -> None:
    shots = sub.add_parser("screenshots", help="simulate a week and photograph the console into docs/screenshots/")
    shots.add_argument("--out", default="docs/screenshots", help="where the PNGs go")
    shots.add_argument("--data-dir", default=".aftersales/screenshots", help="embedded servers' data (wiped)")
    shots.set_defaults(func=cmd_screenshots)
