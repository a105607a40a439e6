"""Dispatch end to end with the external clock and the command API: DSP-ARRIVE with its escalation,
fee consent before dispatch, FIN-AUDIT-LATE per working day across a restart, disputes and reversals."""

from __future__ import annotations

import asyncio
import csv
import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.runtime.settings import Settings
from tests.e2e.conftest import Running
from tests.support import ServiceProcess, call, service_env, wait_until

pytestmark = pytest.mark.e2e

AGENT = ("agent-017", "agent")
TQ = ("tq-003", "tq")
ENGINEER = ("eng-sc-1", "engineer")
BRANCH_MANAGER = ("bm-1", "branch_manager")
DEPUTY_GM = ("dgm-1", "deputy_gm")
GM = ("gm-1", "gm")


@pytest.fixture
def started(e2e_settings: Settings, tmp_path: Path) -> Iterator[dict[str, ServiceProcess]]:
    """Like the shared fixture, with dispatch running too."""
    port = str(e2e_settings.http_port)
    processes = {
        name: ServiceProcess(e2e_settings, tmp_path, name, AFTERSALES_HTTP_PORT=port).start()
        for name in ("intake", "dispatch", "reporting", "api")
    }
    yield processes
    for process in processes.values():
        process.stop()


async def settled(running: Running, complaint_no: str, predicate: Any, what: str) -> dict[str, Any]:
    view: dict[str, Any] = {}

    async def check() -> bool:
        nonlocal view
        view = await running.complaint(complaint_no)
        try:
            return bool(predicate(view))
        except (KeyError, TypeError, IndexError, StopIteration, AssertionError):
            return False

    await wait_until(check, timeout_s=30, interval_s=0.1, what=what)
    return view


async def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def tick(running: Running, iso: str) -> None:
    await running.tick(iso)
    await asyncio.sleep(0.5)  # every service reads the tick from its own consumer


async def start(running: Running, now: str = "2026-11-23T09:00:00+08:00") -> None:
    """Tick, and put two engineers on the roster (once dispatch knows the time)."""
    await running.tick(now)
    registered: list[httpx.Response] = []

    async def roster_ready() -> bool:
        registered[:] = [await running.http.post("/api/v1/engineers/eng-sc-1", json={
            "actor": {"id": TQ[0], "role": TQ[1]}, "name": "王工", "region": "四川", "skills": ["QY25K"], "load": 1,
        })]  # fmt: skip
        return registered[0].status_code != 503

    await wait_until(roster_ready, timeout_s=30, interval_s=0.2, what="dispatch's clock")
    await ok(registered[0])
    other = await running.http.post("/api/v1/engineers/eng-cq-1", json={
        "actor": {"id": TQ[0], "role": TQ[1]}, "name": "李工", "region": "重庆", "skills": ["QY25K"], "load": 0,
    })  # fmt: skip
    await ok(other)
    refused = await running.http.post("/api/v1/engineers/eng-x", json={
        "actor": {"id": "eng-9", "role": "engineer"}, "name": "X", "region": "四川", "skills": ["QY25K"],
    })  # fmt: skip
    assert refused.status_code == 403


async def classified_fault(
    running: Running, call_id: str, *, acceptance: str, distance_km: float, relay: bool = True
) -> str:
    message = call(call_id, received_at="2026-11-23T09:15:00+08:00")
    message["equipment"]["acceptance_date"] = acceptance
    message["site"]["distance_km"] = distance_km
    await running.bus.publish_call(message)
    no: str = (await running.complaint_for_call(call_id))["complaint_no"]
    if relay:
        await ok(await running.command(no, "relay", AGENT))
    await ok(await running.command(no, "classify", TQ, cause="quality", level=3, on_site=True))
    await ok(await running.command(no, "solution", TQ, solution="更换密封件"))
    return no


def deadline(view: dict[str, Any], rule: str) -> dict[str, Any]:
    matches: list[dict[str, Any]] = [d for d in view["deadlines"] if d["rule"] == rule]
    assert len(matches) == 1, view["deadlines"]
    return matches[0]


def escalations(view: dict[str, Any], rule: str) -> list[tuple[str, str]]:
    return [(e["to"], e["status"]) for e in view["escalations"] if e["rule"] == rule]


async def visit(running: Running, no: str, approve_return: bool = True) -> None:
    """Arrival, a signed service form with a part, (approved) return."""
    await tick(running, "2026-11-23T14:00:00+08:00")
    await ok(await running.command(no, "dispatch/arrival", ENGINEER))
    await tick(running, "2026-11-23T15:40:00+08:00")
    bad = await running.command(no, "dispatch/service-form", ENGINEER, **form(signed_at="2026-11-23T14:05:00+08:00"))
    assert bad.status_code == 409
    assert "signature time" in bad.json()["error"]
    signed = await ok(await running.command(no, "dispatch/service-form", ENGINEER, **form()))
    assert {"ServiceFormSigned", "PartsReplaced", "RepairOutcomeRecorded"} <= set(signed["events"])
    if approve_return:
        await ok(await running.command(no, "dispatch/return-approval", TQ))
    await tick(running, "2026-11-23T16:00:00+08:00")
    await ok(await running.command(no, "dispatch/return", ENGINEER))


def form(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "work": "更换主臂伸缩油缸密封件", "problem": "主臂伸缩油缸漏油", "outcome": "fixed",
        "started_at": "2026-11-23T14:10:00+08:00", "finished_at": "2026-11-23T15:30:00+08:00",
        "signed_at": "2026-11-23T15:35:00+08:00", "signed_by": "张经理", "rating": 5,
        "parts": [{"material_code": "M-SEAL-25", "quantity": 2, "unit_price_fen": 12_550, "description": "密封件"}],
    }  # fmt: skip
    body.update(overrides)
    return body


# ------------------------------------------------------------------------------------------- (a)


async def test_late_arrival_breaches_dsp_arrive_and_escalates_up_the_chain(running: Running) -> None:
    await start(running)
    no = await classified_fault(running, "CALL-DSP-ARRIVE", acceptance="2026-03-01", distance_km=800.0)
    view = await settled(running, no, lambda v: v["dispatch"]["status"] == "dispatched", "the dispatch")
    assert view["dispatch"]["engineer"] == {"id": "eng-sc-1", "region": "四川"}  # nearest region beats lighter load
    assert view["dispatch"]["assignment"]["rule"] == "DSP-ASSIGN"
    assert deadline(view, "DSP-ARRIVE")["due_at"] == "2026-11-25T09:15:00+08:00"  # 800 km → 48 h from receipt

    await tick(running, "2026-11-25T10:15:00+08:00")  # 49 h after receipt
    arrived = await ok(await running.command(no, "dispatch/arrival", ENGINEER))
    assert "DeadlineMet" in arrived["events"]
    view = await settled(running, no, lambda v: deadline(v, "DSP-ARRIVE")["met_at"], "the late arrival")
    arrive = deadline(view, "DSP-ARRIVE")
    assert arrive["breached"] is True
    assert arrive["met_at"] == "2026-11-25T10:15:00+08:00"
    assert escalations(view, "DSP-ARRIVE") == [("branch_manager", "open")]
    assert view["dispatch"]["arrived_at"] == "2026-11-25T10:15:00+08:00"

    # Unacknowledged for 24 h: on to management, which acknowledges.
    await tick(running, "2026-11-26T11:00:00+08:00")
    view = await settled(running, no, lambda v: len(escalations(v, "DSP-ARRIVE")) == 2, "the escalation upwards")
    assert escalations(view, "DSP-ARRIVE") == [("branch_manager", "forwarded"), ("management", "open")]
    to_management = next(e for e in view["escalations"] if e["to"] == "management")
    refused = await running.command(no, "escalations/acknowledge", BRANCH_MANAGER,
                                    escalation_id=to_management["escalation_id"])  # fmt: skip
    assert refused.status_code == 403
    await ok(await running.command(no, "escalations/acknowledge", GM, escalation_id=to_management["escalation_id"],
                                   note="已安排"))  # fmt: skip
    view = await settled(running, no, lambda v: ("management", "acknowledged") in escalations(v, "DSP-ARRIVE"),
                         "the acknowledgement")  # fmt: skip


# ------------------------------------------------------------------------------------------- (b)


async def test_out_of_warranty_fault_waits_for_fee_consent_or_the_deputy_gm(running: Running) -> None:
    await start(running)
    accepting = await classified_fault(running, "CALL-DSP-FEE-OK", acceptance="2025-06-01", distance_km=420.0)
    refusing = await classified_fault(running, "CALL-DSP-FEE-NO", acceptance="2025-06-01", distance_km=420.0)
    for no in (accepting, refusing):
        view = await settled(running, no, lambda v: v["dispatch"]["status"] == "awaiting_fee_consent", "the quote")
        assert view["warranty"]["in_warranty"] is False
        assert view["dispatch"]["engineer"] is None
        assert view["dispatch"]["fee"]["consent_required"] is True
        assert not [d for d in view["deadlines"] if d["rule"] == "DSP-ARRIVE"]
        assert (await running.command(no, "dispatch/arrival", ENGINEER)).status_code == 409

    # The customer confirms the fee: only now is the engineer dispatched.
    confirmed = await ok(await running.command(accepting, "dispatch/fee-consent", AGENT, accepted=True,
                                               fee_fen=180_000, plan="上门更换密封件"))  # fmt: skip
    assert "EngineerDispatched" in confirmed["events"]
    view = await settled(running, accepting, lambda v: v["dispatch"]["status"] == "dispatched", "the dispatch")
    assert view["dispatch"]["fee"]["consent"] == "accepted"
    assert deadline(view, "DSP-ARRIVE")["due_at"] == "2026-11-25T09:15:00+08:00"

    # The customer refuses: the deputy GM must approve; nobody else may.
    refused = await ok(await running.command(refusing, "dispatch/fee-consent", AGENT, accepted=False, fee_fen=180_000,
                                             plan="上门更换密封件"))  # fmt: skip
    assert "EngineerDispatched" not in refused["events"]
    view = await settled(running, refusing, lambda v: v["dispatch"]["status"] == "awaiting_deputy_gm", "refusal")
    assert escalations(view, "DSP-FEE-CONSENT") == [("deputy_gm", "open")]
    assert view["dispatch"]["engineer"] is None
    not_allowed = await running.command(refusing, "dispatch/approve", BRANCH_MANAGER, reason="老客户")
    assert not_allowed.status_code == 403
    approved = await ok(await running.command(refusing, "dispatch/approve", DEPUTY_GM, reason="老客户, 先服务"))
    assert "EngineerDispatched" in approved["events"]
    view = await settled(running, refusing, lambda v: v["dispatch"]["status"] == "dispatched", "the approval")
    assert view["dispatch"]["fee"]["approved_by"] == "dgm-1"
    assert escalations(view, "DSP-FEE-CONSENT") == [("deputy_gm", "acknowledged")]


# ------------------------------------------------------------------------------------------- (c)


async def test_late_audit_is_fined_50_yuan_per_working_day_once_across_a_restart(running: Running) -> None:
    await start(running)
    no = await classified_fault(running, "CALL-DSP-AUDIT", acceptance="2026-03-01", distance_km=200.0)
    await settled(running, no, lambda v: v["dispatch"]["status"] == "dispatched", "the dispatch")
    await visit(running, no)
    await tick(running, "2026-11-24T10:00:00+08:00")  # Tue
    await ok(await running.command(no, "dispatch/report", ENGINEER, summary="已修复", expense_claim_fen=35_000))
    await ok(await running.command(no, "dispatch/audit/start", TQ))  # tq-003 audits: FIN-AUDIT-LATE is theirs
    view = await settled(running, no, lambda v: deadline(v, "DSP-AUDIT-5WD")["due_at"], "the audit deadline")
    assert deadline(view, "DSP-REPORT-3WD")["met_at"] == "2026-11-24T10:00:00+08:00"
    assert deadline(view, "DSP-AUDIT-5WD")["due_at"] == "2026-12-01T17:00:00+08:00"
    assert view["dispatch"]["form"]["parts_total_fen"] == 25_100
    assert view["dispatch"]["rating"] == 5

    def audit_fines(v: dict[str, Any]) -> list[dict[str, Any]]:
        return [f for f in v["fines"] if f["rule"] == "FIN-AUDIT-LATE"]

    await tick(running, "2026-12-01T18:00:00+08:00")  # missed, but not yet a working day late
    view = await settled(running, no, lambda v: deadline(v, "DSP-AUDIT-5WD")["breached"], "the breach")
    assert escalations(view, "DSP-AUDIT-5WD") == [("branch_manager", "open")]
    await tick(running, "2026-12-02T09:00:00+08:00")
    await settled(running, no, lambda v: len(audit_fines(v)) == 1, "the first day's fine")
    await tick(running, "2026-12-02T12:00:00+08:00")  # the same day again: nothing more

    running.restart("dispatch")  # SIGKILL
    await tick(running, "2026-12-03T09:00:00+08:00")
    await settled(running, no, lambda v: len(audit_fines(v)) == 2, "the second day's fine")
    await tick(running, "2026-12-07T09:00:00+08:00")  # Fri and Mon late; the weekend is not
    await settled(running, no, lambda v: len(audit_fines(v)) == 4, "Friday's and Monday's fines")
    audited = await ok(await running.command(no, "dispatch/audit", TQ, quality_confirmed=True, rating_confirmed=True,
                                             cost_approved_fen=35_000))  # fmt: skip
    assert "FineLevied" not in audited["events"]
    await tick(running, "2026-12-08T09:00:00+08:00")
    await asyncio.sleep(1.5)

    view = await running.complaint(no)
    fines = audit_fines(view)
    assert [(f["amount_fen"], f["person"], f["role"]) for f in fines] == [(5_000, "tq-003", "tq")] * 4
    assert len({f["fine_id"] for f in fines}) == 4
    assert deadline(view, "DSP-AUDIT-5WD")["met_at"] == "2026-12-07T09:00:00+08:00"
    ledger = (await running.http.get("/api/v1/fines", params={"person": "tq-003"})).json()
    assert ledger["by_person"] == [{"person": "tq-003", "role": "tq", "department": "technical_quality", "fines": 4,
                                    "reversals": 0, "levied_fen": 20_000, "reversed_fen": 0, "net_fen": 20_000,
                                    "net_yuan": "200.00"}]  # fmt: skip

    # Every decision dispatch took (DSP-*, FIN-AUDIT-LATE, ...) re-runs to the same outputs.
    replay = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "aftersales.cli", "replay", "complaint", no],
        env=service_env(running.settings), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert replay.returncode == 0, replay.stdout[-3000:] + replay.stderr[-3000:]
    assert "FIN-AUDIT-LATE" in replay.stdout
    assert "DSP-ARRIVE" in replay.stdout


# ------------------------------------------------------------------------------------------- (d)


async def test_disputed_and_reversed_fines_net_to_zero_in_the_ledger(running: Running) -> None:
    await start(running)
    no = await classified_fault(running, "CALL-DSP-FINE", acceptance="2026-03-01", distance_km=200.0, relay=False)
    await settled(running, no, lambda v: v["dispatch"]["status"] == "dispatched", "the dispatch")
    await visit(running, no, approve_return=False)  # 16:00: the relay deadline (13:15) was missed too
    view = await settled(running, no, lambda v: v["dispatch"]["return"]["left_without_approval"] is True, "return")
    relay_fine = next(f for f in view["fines"] if f["rule"] == "FIN-RELAY-LATE")

    # A ranged fine: 50–500 yuan, chosen by the branch manager.
    for amount_fen in (4_999, 50_001):
        outside = await running.command(no, "fines", BRANCH_MANAGER, rule="FIN-RETURN-UNAPPROVED",
                                        amount_fen=amount_fen, reason="擅自离开现场")  # fmt: skip
        assert outside.status_code == 409, outside.text
        assert "outside 50.00–500.00" in outside.json()["error"]
    assert (await running.command(no, "fines", ENGINEER, rule="FIN-RETURN-UNAPPROVED", amount_fen=30_000,
                                  reason="x")).status_code == 403  # fmt: skip
    await ok(await running.command(no, "fines", BRANCH_MANAGER, rule="FIN-RETURN-UNAPPROVED", amount_fen=30_000,
                                   reason="擅自离开现场, 二次上门"))  # fmt: skip
    view = await settled(running, no, lambda v: any(f["rule"] == "FIN-RETURN-UNAPPROVED" for f in v["fines"]), "fine")
    ranged = next(f for f in view["fines"] if f["rule"] == "FIN-RETURN-UNAPPROVED")
    assert (ranged["person"], ranged["department"], ranged["amount_fen"]) == ("eng-sc-1", "after_sales_service", 30_000)

    # Both disputed, both reversed: dispatch's own fine and intake's.
    await ok(await running.command(no, "fines/dispute", ENGINEER, fine_id=ranged["fine_id"], reason="客户要求离开"))
    await ok(await running.command(no, "fines/reverse", BRANCH_MANAGER, fine_id=ranged["fine_id"], reason="核实属实"))
    again = await running.command(no, "fines/reverse", BRANCH_MANAGER, fine_id=ranged["fine_id"], reason="again")
    assert again.status_code == 409
    await ok(await running.command(no, "fines/dispute", AGENT, fine_id=relay_fine["fine_id"], reason="系统故障"))
    await ok(await running.command(no, "fines/reverse", BRANCH_MANAGER, fine_id=relay_fine["fine_id"], reason="属实"))

    async def reversed_twice() -> bool:
        return len((await running.http.get("/api/v1/fines")).json()["entries"]) == 4

    await wait_until(reversed_twice, timeout_s=30, interval_s=0.1, what="both reversals in the ledger")
    ledger = (await running.http.get("/api/v1/fines", params={"person": "eng-sc-1"})).json()
    assert [(e["event"], e["fine_id"], e["amount_fen"]) for e in ledger["entries"]] == [
        ("FineLevied", ranged["fine_id"], 30_000), ("FineReversed", ranged["fine_id"], -30_000),
    ]  # fmt: skip
    assert ledger["net_fen"] == 0
    whole = (await running.http.get("/api/v1/fines")).json()
    assert {(d["department"], d["fines"], d["reversals"], d["net_fen"]) for d in whole["by_department"]} == {
        ("after_sales_service", 1, 1, 0), ("customer_service", 1, 1, 0),
    }  # fmt: skip
    assert {(p["person"], p["net_yuan"]) for p in whole["by_person"]} == {("eng-sc-1", "0.00"), ("agent-017", "0.00")}
    view = await running.complaint(no)
    assert {f["status"] for f in view["fines"]} == {"reversed"}

    as_csv = await running.http.get("/api/v1/fines", headers={"Accept": "text/csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text.lstrip("\ufeff"))))
    assert sorted((r["event"], r["amount_yuan"]) for r in rows) == [
        ("FineLevied", "300.00"), ("FineLevied", "50.00"), ("FineReversed", "-300.00"), ("FineReversed", "-50.00"),
    ]  # fmt: skip
    by_person = await running.http.get("/api/v1/fines", params={"by": "person"}, headers={"Accept": "text/csv"})
    assert {r["person"]: r["net_fen"] for r in csv.DictReader(io.StringIO(by_person.text.lstrip("\ufeff")))} == {
        "eng-sc-1": "0", "agent-017": "0",
    }  # fmt: skip
