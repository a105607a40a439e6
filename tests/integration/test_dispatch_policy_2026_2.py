"""Policy dispatch-2026.2 (docs/rules.md §3, §6, §9) through the HTTP API, the services and the read model,
on real NATS JetStream and PostgreSQL: FIN-AUDIT-LATE goes to the auditor recorded when the audit started
(else the head of technical quality), follow-ups go on every quarter past the fourth (001 §8.1), the KPI
用户抱怨率 counts complaints tq confirmed as the service's own fault (DSP-SERVICE-FAULT) and no fines, the
roster can be read; decisions taken under dispatch-2026.1 still replay to the same outputs."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from psycopg.sql import SQL, Identifier

from aftersales.replay import History
from services.dispatch.domain import ROSTER_ID
from services.dispatch.main import build as build_dispatch
from services.dispatch.policy import POLICIES
from services.reporting.api import create_api
from services.reporting.main import build_store
from shared.events.dispatch_events import ROSTER_CORRELATION
from shared.events.envelope import Envelope, encode_envelope
from shared.runtime.clock import encode_tick
from shared.runtime.service import ServiceRuntime
from shared.runtime.settings import Settings
from shared.workcal import with_calendar
from tests.api_support import serving, staff_auth
from tests.integration.conftest import System
from tests.support import call, wait_until

pytestmark = pytest.mark.integration

AGENT = ("agent-017", "agent")
TQ = ("tq-003", "tq")
TQ_AUDITOR = ("tq-007", "tq")
ENGINEER = ("eng-sc-1", "engineer")
CN = dt.timezone(dt.timedelta(hours=8))


@dataclass
class World:
    system: System
    dispatch: ServiceRuntime
    http: httpx.AsyncClient

    async def tick(self, iso: str) -> None:
        bus = self.system.bus
        await bus.js.publish(bus.names.clock_tick, encode_tick(dt.datetime.fromisoformat(iso)))
        await asyncio.sleep(0.5)  # every service reads the tick from its own consumer

    async def command(self, no: str, path: str, actor: tuple[str, str], **body: Any) -> httpx.Response:
        payload = {"actor": {"id": actor[0], "role": actor[1]}, **body}
        return await self.http.post(f"/api/v1/complaints/{no}/{path}", json=payload)

    async def ok(self, no: str, path: str, actor: tuple[str, str], **body: Any) -> dict[str, Any]:
        response = await self.command(no, path, actor, **body)
        assert response.status_code == 200, f"{path}: {response.text}"
        result: dict[str, Any] = response.json()
        return result

    async def view(self, no: str) -> dict[str, Any]:
        response = await self.http.get(f"/api/v1/complaints/{no}")
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    async def settled(self, no: str, predicate: Any, what: str) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        async def check() -> bool:
            nonlocal seen
            seen = await self.view(no)
            try:
                return bool(predicate(seen))
            except (KeyError, TypeError, IndexError, StopIteration):
                return False

        await wait_until(check, timeout_s=30, interval_s=0.1, what=what)
        return seen

    async def register(self, engineer_id: str, name: str, region: str, load: int = 0) -> None:
        body = {"actor": {"id": TQ[0], "role": TQ[1]}, "name": name, "region": region, "skills": ["QY25K"],
                "load": load}  # fmt: skip
        responses: list[httpx.Response] = []

        async def accepted() -> bool:  # 503 until dispatch has its first tick
            responses[:] = [await self.http.post(f"/api/v1/engineers/{engineer_id}", json=body)]
            return responses[0].status_code != 503

        await wait_until(accepted, timeout_s=30, interval_s=0.2, what="dispatch's clock")
        assert responses[0].status_code == 200, responses[0].text

    async def complaint(self, call_id: str, **site: Any) -> str:
        message = call(call_id, received_at="2026-11-23T09:15:00+08:00")
        message["equipment"]["acceptance_date"] = "2026-03-01"
        message["site"].update(site)
        await self.system.bus.publish_call(message)
        found: list[dict[str, Any]] = []

        async def visible() -> bool:
            found[:] = (await self.http.get("/api/v1/complaints", params={"call_id": call_id})).json()
            return bool(found)

        await wait_until(visible, timeout_s=30, interval_s=0.1, what=f"complaint of {call_id}")
        no: str = found[0]["complaint_no"]
        return no


@pytest.fixture
async def world(system: System, settings: Settings) -> AsyncIterator[World]:
    dispatch = build_dispatch(settings)
    await dispatch.start()
    api = create_api(lambda: build_store(settings), settings.nats_url, settings.names)
    try:
        async with (
            serving(api) as base,
            httpx.AsyncClient(base_url=base, timeout=15, auth=staff_auth(settings)) as http,
        ):
            yield World(system, dispatch, http)
    finally:
        await dispatch.stop()


FORM = {
    "work": "更换主臂伸缩油缸密封件", "problem": "主臂伸缩油缸漏油", "outcome": "fixed",
    "started_at": "2026-11-23T14:10:00+08:00", "finished_at": "2026-11-23T15:30:00+08:00",
    "signed_at": "2026-11-23T15:35:00+08:00", "signed_by": "张经理", "rating": 5,
}  # fmt: skip


def audit_fines(view: dict[str, Any]) -> list[tuple[str | None, str, int]]:
    return [(f["person"], f["policy_version"], f["amount_fen"]) for f in view["fines"] if f["rule"] == "FIN-AUDIT-LATE"]


async def test_late_audit_fines_go_to_the_auditor_or_the_head_of_tq_and_old_decisions_replay(
    world: World, settings: Settings
) -> None:
    app: Any = world.dispatch.app
    app.policy = with_calendar(POLICIES["dispatch-2026.1"], app.calendars.current())  # the regulation before
    await world.tick("2026-11-23T09:00:00+08:00")
    await world.register("eng-sc-1", "王工", "四川")
    early, late = (await world.complaint("CALL-AUDIT-V1", distance_km=200.0),
                   await world.complaint("CALL-AUDIT-V2", distance_km=200.0))  # fmt: skip
    for no in (early, late):
        await world.ok(no, "relay", AGENT)
        await world.ok(no, "classify", TQ, cause="quality", level=3, on_site=True)
        await world.settled(no, lambda v: v["dispatch"]["status"] == "dispatched", "the dispatch")
    await world.tick("2026-11-23T14:00:00+08:00")
    for no in (early, late):
        await world.ok(no, "dispatch/arrival", ENGINEER)
    await world.tick("2026-11-23T15:40:00+08:00")
    for no in (early, late):
        await world.ok(no, "dispatch/service-form", ENGINEER, **FORM)
        await world.ok(no, "dispatch/return-approval", TQ)
    await world.tick("2026-11-23T16:00:00+08:00")
    for no in (early, late):
        await world.ok(no, "dispatch/return", ENGINEER)
    await world.tick("2026-11-24T10:00:00+08:00")
    await world.ok(early, "dispatch/report", ENGINEER, summary="已修复")  # DSP-AUDIT-5WD due Tue 1 Dec 17:00
    too_soon = await world.command(late, "dispatch/audit/start", TQ_AUDITOR)
    assert too_soon.status_code == 409  # the audit starts after the report
    assert "report" in too_soon.json()["error"]
    await world.tick("2026-11-25T10:00:00+08:00")
    await world.ok(late, "dispatch/report", ENGINEER, summary="已修复")  # due Wed 2 Dec 17:00

    # Under dispatch-2026.1 the late day's fine went to whoever classified the fault.
    await world.tick("2026-12-02T09:00:00+08:00")
    view = await world.settled(early, lambda v: audit_fines(v), "the first late day's fine (2026.1)")
    assert audit_fines(view) == [("tq-003", "dispatch-2026.1", 5_000)]
    await world.ok(early, "dispatch/audit", TQ, quality_confirmed=True, rating_confirmed=True)

    # The regulation changes (docs/rules.md §9): the auditor, else the head of technical quality.
    app.policy = with_calendar(POLICIES["dispatch-2026.2"], app.calendars.current())
    await world.tick("2026-12-03T09:00:00+08:00")  # nobody started the audit yet
    view = await world.settled(late, lambda v: audit_fines(v), "the first late day's fine (2026.2)")
    assert audit_fines(view) == [("tq-head", "dispatch-2026.2", 5_000)]
    forbidden = await world.command(late, "dispatch/audit/start", ENGINEER)
    assert forbidden.status_code == 403
    started = await world.ok(late, "dispatch/audit/start", TQ_AUDITOR)
    assert started["events"] == ["AuditStarted"]
    view = await world.settled(late, lambda v: v["dispatch"]["auditor"], "the auditor")
    assert view["dispatch"]["auditor"]["id"] == "tq-007"
    await world.tick("2026-12-04T09:00:00+08:00")
    view = await world.settled(late, lambda v: len(audit_fines(v)) == 2, "the second late day's fine")
    assert audit_fines(view) == [("tq-head", "dispatch-2026.2", 5_000), ("tq-007", "dispatch-2026.2", 5_000)]
    await world.ok(late, "dispatch/audit", TQ_AUDITOR, quality_confirmed=True, rating_confirmed=True)

    ledger = (await world.http.get("/api/v1/fines", params={"department": "technical_quality"})).json()
    assert {(p["person"], p["net_fen"]) for p in ledger["by_person"]} == {
        ("tq-003", 5_000), ("tq-head", 5_000), ("tq-007", 5_000),
    }  # fmt: skip

    # DSP-FOLLOWUP under dispatch-2026.2: every quarter, past the fourth, into 2028.
    await world.tick("2028-03-01T09:00:00+08:00")
    view = await world.settled(late, lambda v: len(v["dispatch"]["followups"]) >= 6, "quarterly follow-ups")
    due = {f["quarter"]: f["due_at"] for f in view["dispatch"]["followups"]}
    assert due[4] == "2027-11-23T08:30:00+08:00"
    assert due[5] == "2028-02-23T08:30:00+08:00"
    assert due[6] == "2028-05-23T08:30:00+08:00"  # scheduled when the fifth fell due
    assert [f["status"] for f in view["dispatch"]["followups"] if f["quarter"] <= 5] == ["due"] * 5

    # Every decision, those under dispatch-2026.1 included, re-runs to the same outputs.
    history = History(settings)
    try:
        steps = list(history.steps())
    finally:
        history.close()
    fines = [s for s in steps if s.envelope.type == "FineLevied" and s.envelope.rule == "FIN-AUDIT-LATE"]
    assert sorted((s.envelope.policy_version, s.envelope.data["person"]) for s in fines) == [
        ("dispatch-2026.1", "tq-003"), ("dispatch-2026.2", "tq-007"), ("dispatch-2026.2", "tq-head"),
    ]  # fmt: skip
    versions = {c.policy_version for s in steps for c in s.checks if c.rule.startswith("DSP-")}
    assert versions == {"dispatch-2026.1", "dispatch-2026.2"}
    assert all(step.reproduced for step in steps), [c for s in steps for c in s.checks if not c.reproduced]


async def test_kpi_counts_complaints_tq_confirmed_as_service_faults_not_fines(world: World) -> None:
    await world.tick("2026-11-23T09:00:00+08:00")
    confirmed = await world.complaint("CALL-KPI-RUDE", distance_km=200.0)
    fined = await world.complaint("CALL-KPI-FINED", distance_km=200.0)
    cleared = await world.complaint("CALL-KPI-CLEARED", distance_km=200.0)
    charged = await world.complaint("CALL-KPI-CHARGE", distance_km=200.0)
    for no in (confirmed, cleared, charged):
        await world.ok(no, "relay", AGENT)
    await world.tick("2026-11-23T14:00:00+08:00")  # INT-RELAY-4WH missed for `fined`: FIN-RELAY-LATE
    await world.settled(fined, lambda v: any(f["rule"] == "FIN-RELAY-LATE" for f in v["fines"]), "the relay fine")

    not_tq = await world.command(confirmed, "service-fault", AGENT, ground="rude", finding="客户投诉态度恶劣")
    assert not_tq.status_code == 403
    no_ground = await world.command(confirmed, "service-fault", TQ, ground="weather", finding="下雨")
    assert no_ground.status_code == 409
    assert "late, rude, repeat_repair, unapproved_charge" in no_ground.json()["error"]
    decided = await world.ok(confirmed, "service-fault", TQ, ground="rude", finding="回访核实: 工程师态度恶劣")
    assert decided["events"] == ["ServiceFaultDecided"]
    again = await world.command(confirmed, "service-fault", TQ, ground="rude", finding="同一结论")
    assert again.status_code == 409
    await world.ok(charged, "service-fault", TQ, ground="unapproved_charge", finding="未经同意收取上门费")
    await world.ok(cleared, "service-fault", TQ, ground="late", finding="初步认定迟到")
    await world.ok(cleared, "service-fault", TQ, at_fault=False, finding="复核: 客户改约时间, 非服务责任")
    view = await world.settled(cleared, lambda v: v["service_fault"]["at_fault"] is False, "the later finding")
    assert view["service_fault"]["rule"] == "DSP-SERVICE-FAULT"
    view = await world.settled(confirmed, lambda v: v["service_fault"]["at_fault"], "the confirmation")
    assert (view["service_fault"]["ground"], view["service_fault"]["by"]) == ("rude", "tq-003")

    kpis = (await world.http.get("/api/v1/reports/kpis", params={"from": "2026-11-01", "to": "2026-12-01"})).json()
    at_fault = next(k for k in kpis["kpis"] if k["kpi"] == "service_at_fault")
    # Two confirmed of four complaints; the fined one (FIN-RELAY-LATE) and the cleared one do not count.
    assert (at_fault["numerator"], at_fault["denominator"], at_fault["exact"], at_fault["met"]) == (2, 4, "2/4", False)
    as_csv = await world.http.get("/api/v1/reports/kpis", headers={"Accept": "text/csv"})
    rows = {r["kpi"]: r for r in csv.DictReader(io.StringIO(as_csv.text.lstrip("\ufeff")))}
    assert (rows["service_at_fault"]["numerator"], rows["service_at_fault"]["met"]) == ("2", "False")


async def test_the_roster_can_be_read_as_json_and_csv(world: World) -> None:
    await world.tick("2026-11-23T09:00:00+08:00")
    await world.register("eng-sc-1", "王工", "四川", load=1)
    await world.register("eng-cq-1", "李工", "重庆")
    updated = await world.http.post("/api/v1/engineers/eng-cq-1/update",
                                    json={"actor": {"id": TQ[0], "role": TQ[1]}, "available": False})  # fmt: skip
    assert updated.status_code == 200, updated.text

    async def projected() -> bool:
        rows = (await world.http.get("/api/v1/engineers")).json()
        return len(rows) == 2 and rows[0]["available"] is False

    await wait_until(projected, timeout_s=30, interval_s=0.1, what="the roster in the read model")
    roster = (await world.http.get("/api/v1/engineers")).json()
    assert [(e["engineer_id"], e["name"], e["region"], e["skills"], e["load"], e["available"]) for e in roster] == [
        ("eng-cq-1", "李工", "重庆", ["QY25K"], 0, False), ("eng-sc-1", "王工", "四川", ["QY25K"], 1, True),
    ]  # fmt: skip
    available = (await world.http.get("/api/v1/engineers", params={"available": "true", "skill": "qy25k"})).json()
    assert [e["engineer_id"] for e in available] == ["eng-sc-1"]
    one = await world.http.get("/api/v1/engineers/eng-sc-1")
    assert (one.status_code, one.json()["region"]) == (200, "四川")
    missing = await world.http.get("/api/v1/engineers/eng-nobody")
    assert missing.status_code == 404
    as_csv = await world.http.get("/api/v1/engineers", headers={"Accept": "text/csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text.lstrip("\ufeff"))))
    assert [(r["engineer_id"], r["skills"], r["available"]) for r in rows] == [
        ("eng-cq-1", "QY25K", "False"), ("eng-sc-1", "QY25K", "True"),
    ]  # fmt: skip

    # A dispatch changes the load the roster shows (EngineerLoadChanged).
    no = await world.complaint("CALL-ROSTER", distance_km=200.0)
    await world.ok(no, "relay", AGENT)
    await world.ok(no, "classify", TQ, cause="quality", level=3, on_site=True)

    async def loaded() -> bool:
        return bool((await world.http.get("/api/v1/engineers/eng-sc-1")).json()["load"] == 2)

    await wait_until(loaded, timeout_s=30, interval_s=0.1, what="the dispatch in the engineer's load")


def roster_envelope(position: int, type_: str, data: dict[str, Any]) -> Envelope:
    return Envelope(
        event_id=uuid.uuid4(), type=type_, version=1, occurred_at=dt.datetime(2026, 11, 23, 9, position, tzinfo=CN),
        service="dispatch", position=position, aggregate_id=ROSTER_ID, aggregate_version=position,
        correlation_id=ROSTER_CORRELATION, causation_id="test", data=data,
    )  # fmt: skip


def test_roster_events_an_older_projector_parked_are_projected_with_the_next_one(settings: Settings) -> None:
    store = build_store(settings)
    store.open()
    try:
        registered = roster_envelope(1, "EngineerRegistered", {
            "engineer_id": "eng-sc-1", "name": "王工", "region": "四川", "skills": ["QY25K"], "load": 0,
            "available": True, "actor": "tq-003",
        })  # fmt: skip
        with store.pool.connection() as conn:  # as a projector before the roster read model parked it
            park = SQL("INSERT INTO {0}.pending (complaint_no, envelope) VALUES (%s, %s)")
            conn.execute(park.format(Identifier(store.schema)), (ROSTER_CORRELATION, encode_envelope(registered)))
        assert store.engineers() == []
        loaded = roster_envelope(2, "EngineerLoadChanged", {"engineer_id": "eng-sc-1", "delta": 1,
                                                            "complaint_no": "TS-2026-00000001"})  # fmt: skip
        assert store.project("dispatch", [loaded]) == 1
        assert [(e["engineer_id"], e["load"]) for e in store.engineers()] == [("eng-sc-1", 1)]
        with store.pool.connection() as conn:
            left = conn.execute(SQL("SELECT count(*) AS n FROM {0}.pending").format(Identifier(store.schema)))
            assert left.fetchone() == {"n": 0}
    finally:
        store.close()
