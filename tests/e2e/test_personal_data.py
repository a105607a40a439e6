"""Personal data end to end (docs/rules.md §11): sealed at rest, masked in the read API, erased on request.

The system runs as in production (intake, reporting and the API as separate processes on real NATS
and PostgreSQL); the database is dumped with `pg_dump` and searched for the customers' data.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from aftersales.privacy import ERASED_TOPICS, erased_in_store, erased_in_stream
from shared.security.personal import ERASED
from tests.api_support import staff_auth
from tests.e2e.conftest import Running
from tests.support import call, service_env, wait_until

pytestmark = pytest.mark.e2e

NOW = "2026-11-23T08:00:00+08:00"
CUSTOMERS = [
    ("pii-1", "王小明", "13800000001", "长沙市岳麓区麓谷大道一号"),
    ("pii-2", "李建国", "13900000002", "株洲市天元区泰山路二号"),
    ("pii-3", "赵红梅", "13700000003", "湘潭市雨湖区韶山路三号"),
    ("pii-4", "钱多多", "13600000004", "衡阳市蒸湘区解放路四号"),
]
LATE_PHONE = "13500000005"  # pii-5 calls without a phone; the agent completes it


def pg_dump() -> str:
    """The newest pg_dump at hand: the system's PostgreSQL client tools, else the one pgserver ships."""
    candidates = [shutil.which("pg_dump")]
    try:
        from pgserver._commands import POSTGRES_BIN_PATH

        candidates.append(str(POSTGRES_BIN_PATH / "pg_dump"))
    except ImportError:
        pass

    def major(path: str) -> int:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, check=True).stdout
        found = re.search(r"(\d+)\.", out)
        return int(found.group(1)) if found else 0

    usable = [p for p in candidates if p and Path(p).is_file()]
    if not usable:
        pytest.fail("no pg_dump: install the PostgreSQL client tools")
    return max(usable, key=major)


async def cli(running: Running, *args: str) -> subprocess.CompletedProcess[str]:
    token = staff_auth(running.settings).token("dpo-01", "ops")  # the erasure's requester (--by dpo-01)
    return await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "aftersales.cli", *args],
        env=service_env(running.settings, AFTERSALES_TOKEN=token), capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def dump(running: Running) -> str:
    schemas = [running.settings.names.db_schema(s) for s in ("intake", "reporting", "pii")]
    args = [pg_dump(), f"--dbname={running.settings.database_url}", "--no-owner"]
    args += [f"--schema={s}" for s in schemas]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for schema in schemas:
        assert f"CREATE TABLE {schema}." in result.stdout or f'CREATE TABLE "{schema}".' in result.stdout
    return result.stdout


async def test_personal_data_is_sealed_masked_and_erased_while_replay_and_audit_still_pass(
    running: Running, tmp_path: Path
) -> None:
    await running.tick(NOW)
    await running.clock_reached("intake", NOW)
    for call_id, name, phone, address in CUSTOMERS:
        site = {"region": "湖南", "distance_km": 80.0, "address": address}
        await running.bus.publish_call(call(call_id, customer={"name": name, "phone": phone}, site=site))
    site = {"region": "湖南", "distance_km": 80.0, "address": "岳阳市五号"}
    await running.bus.publish_call(call("pii-5", customer={"name": "孙立", "phone": None}, site=site))
    views = {c[0]: await running.complaint_for_call(c[0]) for c in CUSTOMERS}
    late = await running.complaint_for_call("pii-5")

    # PII-VIEW: without a principal the caller is the most restricted reader: masked.
    first = views["pii-1"]
    assert first["customer"] == {"name": "王**", "phone": "138****0001"}
    assert first["site"]["address"] == "长沙市岳麓区…"
    register = (await running.http.get("/api/v1/reports/tracking-register")).json()
    assert {r["phone"] for r in register} == {"138****0001", "139****0002", "137****0003", "136****0004", None}
    csv_text = (await running.http.get("/api/v1/reports/tracking-register", headers={"accept": "text/csv"})).text
    assert "138****0001" in csv_text
    assert "13800000001" not in csv_text

    completed = await running.command(late["complaint_no"], "complete", ("agent-017", "agent"),
                                      fields={"customer.phone": LATE_PHONE})  # fmt: skip
    assert completed.status_code == 200, completed.text

    async def late_phone_shown() -> bool:
        shown: str = (await running.complaint(late["complaint_no"]))["customer"]["phone"]
        return shown == "135****0005"

    await wait_until(late_phone_shown, timeout_s=20, what="the completed phone in the read model")

    # PII-SEAL: nothing of the customers in clear in a dump of the running system's database, nor in the logs.
    text = dump(running)
    assert "pii:v1:" in text
    secrets = [value for _, *values in CUSTOMERS for value in values] + [LATE_PHONE, "孙立", "岳阳市五号"]
    # Events are stored as bytea (hex in the dump), the read model as jsonb (text): search both.
    assert [s for s in secrets if s in text or s.encode().hex() in text] == []
    logs = "".join(p.log_path.read_text(errors="replace") for p in running.processes.values())
    assert [s for s in secrets if s in logs] == []

    # A backup of the key table, taken before the erasures (restored below).
    keys_schema = running.settings.names.db_schema("pii")
    with psycopg.connect(running.settings.database_url, autocommit=True) as conn:
        backup = conn.execute(
            SQL("SELECT key_id, key FROM {0}.customer_keys").format(Identifier(keys_schema))
        ).fetchall()

    # PII-ERASE: the customer of pii-1 (asked with another spelling of the number), and of pii-5.
    erased = await cli(running, "privacy", "erase", "--phone", "+86 138-0000-0001", "--by", "dpo-01",
                       "--reason", "客户2026-11-23书面申请删除个人信息")  # fmt: skip
    assert erased.returncode == 0, erased.stdout + erased.stderr
    assert "PersonalDataErased" in erased.stdout
    erased_late = await cli(running, "privacy", "erase", "--phone", LATE_PHONE, "--by", "dpo-01", "--reason", "申请")
    assert erased_late.returncode == 0, erased_late.stdout + erased_late.stderr

    shown = await running.complaint(first["complaint_no"])
    assert shown["customer"] == {"name": ERASED, "phone": ERASED}
    assert shown["site"]["address"] == ERASED
    shown_late = await running.complaint(late["complaint_no"])  # sealed under the call's key, then the phone's
    assert shown_late["customer"] == {"name": ERASED, "phone": ERASED}
    assert shown_late["site"]["address"] == ERASED
    assert (await running.complaint(views["pii-2"]["complaint_no"]))["customer"]["phone"] == "139****0002"

    again = await cli(running, "privacy", "erase", "--phone", "13800000001", "--by", "dpo-01", "--reason", "again")
    assert again.returncode == 1
    assert "no personal data" in again.stderr

    # The erasure is an event: who asked, why, when; never the phone.
    schema = running.settings.names.db_schema("intake")
    with psycopg.connect(running.settings.database_url, autocommit=True) as conn:
        rows = conn.execute(
            SQL("SELECT convert_from(state, 'UTF8') FROM {0}.intake_events WHERE topic = ANY(%s)").format(
                Identifier(schema)
            ),
            (ERASED_TOPICS,),
        ).fetchall()
    assert len(rows) == 2
    assert all("dpo-01" in r[0] and "13800000001" not in r[0] and LATE_PHONE not in r[0] for r in rows)
    assert all('"subject"' not in r[0] for r in rows)  # not even the keyed index of the phone
    assert any("客户2026-11-23书面申请删除个人信息" in r[0] for r in rows)

    # History is not rewritten: every decision still reproduces and every chain still holds.
    replayed = await cli(running, "replay", "all")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "0 not reproduced" in replayed.stdout
    story = await cli(running, "replay", "complaint", first["complaint_no"])
    assert story.returncode == 0, story.stdout + story.stderr
    assert ERASED in story.stdout
    assert "王小明" not in story.stdout
    verified = await cli(running, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr

    dossier = await cli(running, "dossier", first["complaint_no"], "--out", str(tmp_path))
    assert dossier.returncode == 0, dossier.stderr
    page = (tmp_path / f"{first['complaint_no']}.html").read_text(encoding="utf-8")
    document = (tmp_path / f"{first['complaint_no']}.json").read_text(encoding="utf-8")
    assert ERASED in page
    assert ERASED in document
    assert "王小明" not in page + document
    assert "13800000001" not in page + document
    other = await cli(running, "dossier", views["pii-2"]["complaint_no"], "--out", str(tmp_path))
    assert other.returncode == 0, other.stderr
    other_page = (tmp_path / f"{views['pii-2']['complaint_no']}.html").read_text(encoding="utf-8")
    assert "李**" in other_page
    assert "李建国" not in other_page

    # The key table restored from the backup brings the erased keys back, until the erasures on
    # record (intake's store and, independently, its event stream) are applied again.
    with psycopg.connect(running.settings.database_url, autocommit=True) as conn:
        for key_id, key in backup:
            conn.execute(SQL("UPDATE {0}.customer_keys SET key = %s, erased_at = NULL WHERE key_id = %s").format(
                Identifier(keys_schema)), (key, key_id))  # fmt: skip
    assert (await running.complaint(first["complaint_no"]))["customer"]["name"] == "王**"
    on_stream = await erased_in_stream(running.settings)
    assert on_stream == erased_in_store(running.settings)
    assert len(on_stream) == 3  # pii-1's key; pii-5's phone key and its call's key
    reapplied = await cli(running, "privacy", "reapply", "--by", "ops-restore")
    assert reapplied.returncode == 0, reapplied.stdout + reapplied.stderr
    assert "3 keys erased on record; 3 were back and are destroyed again" in reapplied.stdout
    assert (await running.complaint(first["complaint_no"]))["customer"] == {"name": ERASED, "phone": ERASED}
    assert (await running.complaint(late["complaint_no"]))["customer"] == {"name": ERASED, "phone": ERASED}
