"""A complaint through intake and dispatch with a late relay fined, then read as people read it: the
complaint page and the dossier (HTML, PDF; API and command line) tell its story in plain Chinese, with
rule ids, seed sections, 已复核 and the event chain hashes."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

import psycopg
import pytest
from psycopg.sql import SQL, Identifier
from pypdf import PdfReader

from shared.security.personal import mask
from tests.e2e.conftest import Running
from tests.e2e.test_dispatch import AGENT, classified_fault, ok, settled, start, started, tick, visit
from tests.e2e.test_disputes import cli

pytestmark = pytest.mark.e2e
__all__ = ["started"]  # the fixture with dispatch running too

FINE = "罚款 50 元给受理人 agent-017（FIN-RELAY-LATE：未按时转交罚款，001 §6.1.4）"
RELAY = "应于 13:15 前转交技质部（INT-RELAY-4WH：4 个工作小时，001 §6.1.3）"


def flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def chain_hashes(running: Running, service: str) -> set[str]:
    schema = running.settings.names.db_schema(service)
    with psycopg.connect(running.settings.database_url) as conn:
        rows = conn.execute(SQL("SELECT hash FROM {0}.audit_chain").format(Identifier(schema))).fetchall()
    return {bytes(r[0]).hex() for r in rows}


async def test_the_complaint_page_and_dossier_tell_a_late_relay_in_chinese(running: Running, tmp_path: Path) -> None:
    await start(running, "2026-11-23T09:20:00+08:00")
    no = await classified_fault(running, "CALL-DOSSIER-1", acceptance="2026-03-01", distance_km=120.0, relay=False)
    await tick(running, "2026-11-23T13:16:00+08:00")
    await settled(running, no, lambda v: v["fines"], "the relay fine")
    await ok(await running.command(no, "relay", AGENT))
    await settled(running, no, lambda v: v["dispatch"]["status"] == "dispatched", "the dispatch")
    await visit(running, no)
    await settled(running, no, lambda v: v["dispatch"]["status"] == "returned", "the engineer back")
    await asyncio.sleep(1.0)  # dispatch's deadline after the return

    page = await running.http.get(f"/console/complaints/{no}")
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<html lang="zh-CN">' in html
    assert "接到故障投诉（来电 CALL-DOSSIER-1" in html
    assert RELAY in html
    assert FINE in html
    assert "工程师 eng-sc-1 到场" in html
    assert "DSP-ARRIVE" in html and "DSP-FORM" in html  # noqa: PT018
    assert "已复核" in html
    assert "复核不一致" not in html
    # The read model's summary; personal data masked for an unknown caller (PII-VIEW).
    assert mask("中铁十局物资公司", "name") in html
    assert "中铁十局物资公司" not in html
    assert "_fen" not in html.split("<h2>经过</h2>")[0]  # amounts in 元 in the summary

    dossier = await running.http.get(f"/api/v1/complaints/{no}/dossier", params={"format": "html"})
    assert dossier.status_code == 200, dossier.text
    evidence = chain_hashes(running, "intake") | chain_hashes(running, "dispatch")
    shown = set(re.findall(r"[0-9a-f]{64}", dossier.text))
    assert len(shown) >= 20
    assert shown <= evidence  # every hash shown is one the stores recorded
    assert FINE in dossier.text
    assert "全部" in dossier.text and "项决定均已复核" in dossier.text  # noqa: PT018

    pdf = await running.http.get(f"/api/v1/complaints/{no}/dossier", params={"format": "pdf"})
    assert pdf.status_code == 200, pdf.text[:500]
    assert pdf.headers["content-type"] == "application/pdf"
    text = flat("".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages))
    for sentence in (FINE, RELAY, "工程师eng-sc-1到场"):
        assert flat(sentence) in text, sentence
    assert "FIN-RELAY-LATE" in text and "已复核" in text  # noqa: PT018

    found = await running.http.get("/console/complaints", params={"no": f" {no} "})
    assert (found.status_code, found.headers["location"]) == (303, f"/console/complaints/{no}")
    missing = await running.http.get("/console/complaints/TS-2099-99999999")
    assert missing.status_code == 404
    bad = await running.http.get(f"/api/v1/complaints/{no}/dossier", params={"format": "docx"})
    assert bad.status_code == 422

    made = await cli(running, "dossier", no, "--format", "pdf", "--out", str(tmp_path))
    assert made.returncode == 0, made.stderr
    printed = flat("".join(p.extract_text() for p in PdfReader(tmp_path / f"{no}.pdf").pages))
    assert flat(FINE) in printed
    made = await cli(running, "dossier", no, "--format", "html", "--out", str(tmp_path))
    assert made.returncode == 0, made.stderr
    assert FINE in (tmp_path / f"{no}.html").read_text(encoding="utf-8")

    # Someone edits the fine's amount in the store: replay no longer reproduces it, and the dossier says so.
    schema = running.settings.names.db_schema("intake")
    with psycopg.connect(running.settings.database_url, autocommit=True) as conn:
        changed = conn.execute(
            SQL(
                "UPDATE {0}.intake_events SET state = convert_to(replace(convert_from(state, 'UTF8'),"
                " '\"amount_fen\":5000', '\"amount_fen\":500'), 'UTF8') WHERE topic LIKE '%%FineLevied'"
                " AND strpos(convert_from(state, 'UTF8'), %s) > 0 AND strpos(convert_from(state, 'UTF8'),"
                " '\"amount_fen\":5000') > 0"
            ).format(Identifier(schema)),
            (no,),
        ).rowcount
    assert changed == 1
    disputed = await running.http.get(f"/api/v1/complaints/{no}/dossier")
    assert disputed.status_code == 200, disputed.text
    assert "1 项决定复核不一致" in disputed.text
    assert "金额：记录为 5 元，复算为 50 元" in disputed.text
    assert "罚款 5 元给受理人 agent-017" in disputed.text  # the record as it now stands, beside the verdict
