"""Disputes end to end (issue 6): a simulated week, then replay, audit and a tampered row."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from aftersales.simulate import simulate
from tests.e2e.conftest import Running
from tests.support import nats_user_options, service_env, wait_until

pytestmark = pytest.mark.e2e

START = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
COUNT = 120


async def cli(running: Running, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "aftersales.cli", *args],
        env=service_env(running.settings),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_a_simulated_week_replays_and_a_tampered_row_is_caught(running: Running, tmp_path: Path) -> None:
    # A week in 6-hour ticks; the telephony system sends each call as it comes in (the door refuses a
    # call received more than a day ahead of the clock), six an hour apart in each of the first 20 windows.
    call_ids: list[str] = []
    telephony = nats_user_options(running.settings, "telephony")  # the simulator is the telephony system
    for n in range(28):
        now = START + dt.timedelta(hours=6 * n)
        await running.tick(now.isoformat())
        await running.clock_reached("intake", now.isoformat())
        if n < COUNT // 6:
            stats = await simulate(running.settings.nats_url, running.settings.names, count=6, rate=None,
                                   duplicate_ratio=0.05, bad_ratio=0.02, seed=3 + n, start=now,
                                   spacing=dt.timedelta(hours=1), nats_options=telephony)  # fmt: skip
            call_ids.extend(stats.call_ids)
        if n == 0:
            first = await running.complaint_for_call(call_ids[0])
            relayed = await running.command(first["complaint_no"], "relay", ("agent-001", "agent"))
            assert relayed.status_code == 200, relayed.text

    async def all_projected() -> bool:
        register = (await running.http.get("/api/v1/reports/tracking-register")).json()
        return len(register) == COUNT

    await wait_until(all_projected, timeout_s=60, interval_s=0.2, what="the week in the read model")
    await asyncio.sleep(2.0)  # the last ticks' consequences

    everything = await cli(running, "replay", "all")
    assert everything.returncode == 0, everything.stdout + everything.stderr
    assert "0 not reproduced" in everything.stdout

    late = await running.complaint_for_call(call_ids[1])
    shown = await cli(running, "replay", "complaint", late["complaint_no"], "--json")
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    types = [e["type"] for e in document["events"]]
    assert types[0] == "ComplaintReceived"
    assert "FineLevied" in types
    assert document["reproduced"] is True
    assert all(d["reproduced"] for e in document["events"] for d in e["decisions"])

    as_of = (START + dt.timedelta(hours=3)).isoformat()  # received at 09:00, relay due at 13:00
    before = await cli(running, "replay", "complaint", late["complaint_no"], "--json", "--as-of", as_of)
    assert before.returncode == 0, before.stderr
    assert [e["type"] for e in json.loads(before.stdout)["events"]] == ["ComplaintReceived"]

    text = await cli(running, "replay", "complaint", late["complaint_no"])
    assert "✓ reproduced" in text.stdout
    assert late["customer"]["name"] in text.stdout  # Chinese shows as itself, not as \u escapes

    dossier = await cli(running, "dossier", late["complaint_no"], "--out", str(tmp_path))
    assert dossier.returncode == 0, dossier.stderr
    html = (tmp_path / f"{late['complaint_no']}.html").read_text(encoding="utf-8")
    assert late["complaint_no"] in html
    assert "reproduces" in html

    verified = await cli(running, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr

    # Someone edits a fine's amount directly in PostgreSQL.
    schema = running.settings.names.db_schema("intake")
    with psycopg.connect(running.settings.database_url, autocommit=True) as conn:
        row = conn.execute(
            f'SELECT notification_id FROM "{schema}".intake_events'
            " WHERE topic LIKE '%%FineLevied' AND strpos(convert_from(state, 'UTF8'), %s) > 0 LIMIT 1",
            (late["complaint_no"],),
        ).fetchone()
        assert row is not None
        tampered = row[0]
        conn.execute(
            f"UPDATE \"{schema}\".intake_events SET state = convert_to(replace(convert_from(state, 'UTF8'),"
            " '5000', '500'), 'UTF8') WHERE notification_id = %s",
            (tampered,),
        )
    broken = await cli(running, "audit", "verify")
    assert broken.returncode == 1
    assert f"event #{tampered} " in broken.stdout
    assert "was changed" in broken.stdout
    disputed = await cli(running, "replay", "complaint", late["complaint_no"])
    assert disputed.returncode == 1
    assert "DOES NOT REPRODUCE" in disputed.stdout
