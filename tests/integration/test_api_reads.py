"""The read API for dashboard builders (docs/contract.md §4) on real NATS JetStream and PostgreSQL:
filters and totals on the register and the fines ledger, CSV by `?format=csv` and by `Accept`, every
time in +08:00, 422 for an unknown query parameter, the KPI CSV with its per-quarter table, and the
quality reports (docs/rules.md §6: QLT-INCIDENT-CLASS, QLT-EXTERNAL-COST, QLT-STATS) from real events.

Every HTTP call goes through `Reader` (and the client made by `client`), so that credentials can be
added in one place."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from services.dispatch.main import build as build_dispatch
from services.parts.main import build as build_parts
from services.reporting.api import create_api
from services.reporting.main import build_store
from shared.runtime.clock import encode_tick
from shared.runtime.settings import Settings
from tests.api_support import serving, staff_auth
from tests.integration.conftest import System
from tests.support import call, wait_until

pytestmark = pytest.mark.integration

CN_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?\+08:00$")
TQ = {"id": "tq-003", "role": "tq"}
AGENT = {"id": "agent-017", "role": "agent"}
ENGINEER = {"id": "eng-sc-1", "role": "engineer"}


def client(base: str, settings: Settings) -> httpx.AsyncClient:
    """The one HTTP client of these tests, with the API token of each command's actor (StaffAuth)."""
    return httpx.AsyncClient(base_url=base, timeout=30, auth=staff_auth(settings))


@dataclass
class Reader:
    system: System
    http: httpx.AsyncClient

    async def get(self, path: str, headers: Any = None, **params: Any) -> httpx.Response:
        return await self.http.get(path, params=params, headers=headers)

    async def json(self, path: str, **params: Any) -> Any:
        response = await self.get(path, **params)
        assert response.status_code == 200, f"{path}: {response.text}"
        return response.json()

    async def csv(
        self, path: str, by_header: bool = False, **params: Any
    ) -> tuple[list[dict[str, str]], httpx.Response]:
        if by_header:
            response = await self.get(path, headers={"Accept": "text/csv"}, **params)
        else:
            response = await self.get(path, format="csv", **params)
        assert response.status_code == 200, f"{path}: {response.text}"
        assert response.headers["content-type"].startswith("text/csv")
        return list(csv.DictReader(io.StringIO(response.text.lstrip("\ufeff")))), response

    async def post(self, path: str, actor: dict[str, str], **body: Any) -> dict[str, Any]:
        response = await self.http.post(path, json={"actor": actor, **body})
        assert response.status_code == 200, f"{path}: {response.text}"
        result: dict[str, Any] = response.json()
        return result

    async def post_when_ready(self, path: str, actor: dict[str, str], **body: Any) -> None:
        """POST once the service answers (503 until it has its first tick)."""
        responses: list[httpx.Response] = []

        async def accepted() -> bool:
            responses[:] = [await self.http.post(path, json={"actor": actor, **body})]
            return responses[0].status_code != 503

        await wait_until(accepted, timeout_s=30, interval_s=0.2, what=f"the service behind {path}")
        assert responses[0].status_code == 200, responses[0].text

    async def tick(self, iso: str) -> None:
        bus = self.system.bus
        await bus.js.publish(bus.names.clock_tick, encode_tick(dt.datetime.fromisoformat(iso)))
        await asyncio.sleep(0.5)  # every service reads the tick from its own consumer

    async def calls(self, *messages: dict[str, Any]) -> None:
        want = len(messages) + int((await self.get("/api/v1/complaints", limit=1)).headers["X-Total-Count"])
        for message in messages:
            await self.system.bus.publish_call(message)

        async def all_there() -> bool:
            return int((await self.get("/api/v1/complaints", limit=1)).headers["X-Total-Count"]) >= want

        await wait_until(all_there, timeout_s=60, interval_s=0.2, what=f"{want} complaints in the register")

    async def until(self, path: str, predicate: Any, what: str, **params: Any) -> Any:
        seen: Any = None

        async def check() -> bool:
            nonlocal seen
            seen = await self.json(path, **params)
            return bool(predicate(seen))

        await wait_until(check, timeout_s=30, interval_s=0.2, what=what)
        return seen


@pytest.fixture
async def reader(system: System, settings: Settings) -> AsyncIterator[Reader]:
    dispatch, parts = build_dispatch(settings), build_parts(settings)
    await dispatch.start()
    await parts.start()
    api = create_api(lambda: build_store(settings), settings.nats_url, settings.names)
    try:
        async with serving(api) as base, client(base, settings) as http:
            yield Reader(system, http)
    finally:
        await parts.stop()
        await dispatch.stop()


def fault(call_id: str, model: str, serial: str, **over: Any) -> dict[str, Any]:
    message = call(call_id, **over)
    message["equipment"] = {"serial": serial, "model": model, "acceptance_date": "2026-03-01"}  # in warranty
    return message


def all_times(value: Any) -> list[str]:
    """Every string in a JSON document that looks like a date-time."""
    if isinstance(value, dict):
        return [t for v in value.values() for t in all_times(v)]
    if isinstance(value, list):
        return [t for v in value for t in all_times(v)]
    return [value] if isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}T", value) else []


async def test_the_register_filters_counts_and_pages_in_json_and_csv_in_china_time(reader: Reader) -> None:
    await reader.tick("2026-11-23T09:00:00+08:00")
    sichuan = [fault(f"CALL-SC-{i}", "QY60B", f"QY60B-{i:03}") for i in range(12)]
    hubei = [
        fault("CALL-HB-1", "SAC1000", "SAC-1", site={"region": "湖北", "distance_km": 50.0, "address": "武汉"},
              agent_id="agent-020", received_at="2026-11-10T02:00:00+00:00"),  # 10:00 in China
        fault("CALL-HB-2", "SAC1000", "SAC-2", site={"region": "湖北", "distance_km": 50.0, "address": "武汉"},
              agent_id="agent-020", received_at="2026-11-11T10:00:00+08:00"),
    ]  # fmt: skip
    await reader.calls(*sichuan, *hubei)

    page = await reader.get("/api/v1/reports/tracking-register", limit=5, offset=10)
    assert page.status_code == 200
    assert (page.headers["X-Total-Count"], len(page.json())) == ("14", 4)
    assert [r["call_id"] for r in page.json()][:2] == ["CALL-SC-8", "CALL-SC-9"]  # register order: received, number
    by_region = await reader.get("/api/v1/reports/tracking-register", region="湖北")
    assert by_region.headers["X-Total-Count"] == "2"
    assert {r["call_id"] for r in by_region.json()} == {"CALL-HB-1", "CALL-HB-2"}
    by_agent = await reader.json("/api/v1/complaints", agent="agent-020", model="SAC1000")
    assert [v["call_id"] for v in by_agent] == ["CALL-HB-1", "CALL-HB-2"]
    in_range = await reader.get("/api/v1/complaints", **{"from": "2026-11-10", "to": "2026-11-11"})
    assert [v["call_id"] for v in in_range.json()] == ["CALL-HB-1"]  # `to` is exclusive
    assert in_range.headers["X-Total-Count"] == "1"
    none = await reader.get("/api/v1/complaints", status="closed")
    assert (none.json(), none.headers["X-Total-Count"]) == ([], "0")
    registered = await reader.get("/api/v1/complaints", status="registered", model="QY60B", limit=3)
    assert (len(registered.json()), registered.headers["X-Total-Count"]) == (3, "12")
    by_call = await reader.json("/api/v1/complaints", call_id="CALL-HB-1")
    assert len(by_call) == 1

    # Times: received in UTC, shown in China time, in every answer.
    assert by_call[0]["received_at"] == "2026-11-10T10:00:00+08:00"
    one = await reader.json(f"/api/v1/complaints/{by_call[0]['complaint_no']}")
    times = all_times(one)
    assert times
    assert all(CN_TIME.match(t) for t in times), times
    assert all(CN_TIME.match(t) for v in await reader.json("/api/v1/complaints") for t in all_times(v))

    # CSV both ways, with the same rows, the same total and China time.
    for by_header in (False, True):
        rows, response = await reader.csv("/api/v1/reports/tracking-register", by_header=by_header, region="湖北")
        assert response.headers["X-Total-Count"] == "2"
        assert [(r["call_id"], r["received_at"]) for r in rows] == [
            ("CALL-HB-1", "2026-11-10T10:00:00+08:00"), ("CALL-HB-2", "2026-11-11T10:00:00+08:00"),
        ]  # fmt: skip
        rows, _ = await reader.csv("/api/v1/complaints", by_header=by_header, agent="agent-020")
        assert [r["region"] for r in rows] == ["湖北", "湖北"]
    as_json = await reader.get("/api/v1/reports/tracking-register", headers={"Accept": "text/csv"}, format="json")
    assert as_json.headers["content-type"].startswith("application/json")  # ?format wins over the header

    # A misspelt filter is refused, never ignored.
    for path in ("/api/v1/complaints", "/api/v1/reports/tracking-register", "/api/v1/fines", "/api/v1/reports/kpis",
                 "/api/v1/reports/old-parts", "/api/v1/engineers", f"/api/v1/complaints/{by_call[0]['complaint_no']}",
                 "/api/v1/reports/quality-incidents", "/api/v1/reports/external-failure-cost",
                 "/api/v1/reports/quality-stats"):  # fmt: skip
        refused = await reader.get(path, regoin="湖北")
        assert refused.status_code == 422, (path, refused.text)
        detail = refused.json()["detail"][0]
        assert detail["loc"] == ["query", "regoin"], detail
        assert "regoin" in detail["msg"], detail

    # The KPI CSV carries the per-quarter table too.
    rows, _ = await reader.csv("/api/v1/reports/kpis", region="湖北")
    assert [r["kpi"] for r in rows if r["section"] == "kpi"] == [
        "service_on_time", "customer_satisfaction", "service_at_fault",
    ]  # fmt: skip
    assert [(r["quarter"], r["model"], r["complaints"]) for r in rows if r["section"] == "by_quarter"] == [
        ("2026Q4", "SAC1000", "2")
    ]


async def test_the_fines_ledger_filters_by_person_region_model_period_and_status_with_a_total(reader: Reader) -> None:
    await reader.tick("2026-11-23T09:00:00+08:00")
    await reader.calls(
        fault("CALL-F-1", "QY60B", "F-1"),
        fault("CALL-F-2", "QY60B", "F-2", agent_id="agent-020"),
        fault("CALL-F-3", "SAC1000", "F-3", agent_id="agent-020",
              site={"region": "湖北", "distance_km": 50.0, "address": "武汉"}),
    )  # fmt: skip
    await reader.tick("2026-11-23T13:30:00+08:00")  # INT-RELAY-4WH (13:15) missed by all three: FIN-RELAY-LATE
    ledger = await reader.until("/api/v1/fines", lambda r: r["total"] == 3, "three relay fines")
    assert all(CN_TIME.match(e["at"]) for e in ledger["entries"]), ledger["entries"]

    response = await reader.get("/api/v1/fines", person="agent-020")
    assert (response.headers["X-Total-Count"], response.json()["total"]) == ("2", 2)
    assert {(p["person"], p["net_yuan"]) for p in response.json()["by_person"]} == {("agent-020", "100.00")}
    hubei = await reader.json("/api/v1/fines", region="湖北")
    assert [(e["person"], e["model"], e["region"]) for e in hubei["entries"]] == [("agent-020", "SAC1000", "湖北")]
    assert (await reader.json("/api/v1/fines", model="QY60B"))["total"] == 2
    assert (await reader.json("/api/v1/fines", **{"from": "2026-11-24"}))["total"] == 0
    assert (await reader.json("/api/v1/fines", **{"from": "2026-11-23", "to": "2026-11-24"}))["total"] == 3
    assert (await reader.json("/api/v1/fines", status="reversed"))["total"] == 0
    page = await reader.json("/api/v1/fines", limit=1, offset=1)
    assert (len(page["entries"]), page["total"], page["net_yuan"]) == (1, 3, "150.00")  # the sums cover every page
    for by_header in (False, True):
        rows, csv_response = await reader.csv("/api/v1/fines", by_header=by_header, person="agent-020")
        assert csv_response.headers["X-Total-Count"] == "2"
        assert [(r["person"], r["amount_yuan"], r["rule"]) for r in rows] == [
            ("agent-020", "50.00", "FIN-RELAY-LATE")
        ] * 2
        assert all(CN_TIME.match(r["at"]) for r in rows)


async def test_quality_reports_from_real_events(reader: Reader) -> None:
    await reader.tick("2026-11-23T09:00:00+08:00")
    # 50 units of one model and acceptance date come back, one of them twice: a batch incident.
    batch = [fault(f"CALL-Q-{i}", "QY60B", f"QY60B-B{i:03}") for i in range(50)]
    again = fault("CALL-Q-AGAIN", "QY60B", "QY60B-B000")
    fewer = [fault(f"CALL-Q-OTHER-{i}", "QY80", f"QY80-{i}") for i in range(3)]
    await reader.calls(*batch, again, *fewer)

    incidents = await reader.json("/api/v1/reports/quality-incidents")
    top = incidents["incidents"][0]
    assert (top["class"], top["model"], top["production_date"], top["returns"], top["complaints"]) == (
        "batch", "QY60B", "2026-03-01", 50, 51,
    )  # fmt: skip
    assert incidents["counts"] == {"major": 0, "batch": 1, "general": 1}
    assert CN_TIME.match(top["first_received_at"])
    rows, _ = await reader.csv("/api/v1/reports/quality-incidents", by_header=True)
    assert [(r["class"], r["model"], r["returns"]) for r in rows] == [
        ("batch", "QY60B", "50"),
        ("general", "QY80", "3"),
    ]
    only_qy80 = await reader.json("/api/v1/reports/quality-incidents", model="QY80")
    assert [i["class"] for i in only_qy80["incidents"]] == ["general"]

    # One QY80 goes through dispatch: the audited cost (20 000 元) and a part (2 000 元), a major incident.
    no = (await reader.json("/api/v1/complaints", call_id="CALL-Q-OTHER-0"))[0]["complaint_no"]
    await reader.post_when_ready("/api/v1/engineers/eng-sc-1", TQ, name="王工", region="四川", skills=["QY80"], load=0)
    await reader.post(f"/api/v1/complaints/{no}/relay", AGENT)
    await reader.post(f"/api/v1/complaints/{no}/classify", TQ, cause="quality", level=3, on_site=True)
    await reader.until(f"/api/v1/complaints/{no}", lambda v: (v["dispatch"] or {}).get("status") == "dispatched",
                       "the dispatch")  # fmt: skip
    await reader.tick("2026-11-23T14:00:00+08:00")
    await reader.post(f"/api/v1/complaints/{no}/dispatch/arrival", ENGINEER)
    await reader.tick("2026-11-23T15:40:00+08:00")
    form = {"work": "更换液压泵", "problem": "液压泵损坏", "outcome": "fixed",
            "started_at": "2026-11-23T14:10:00+08:00", "finished_at": "2026-11-23T15:30:00+08:00",
            "signed_at": "2026-11-23T15:35:00+08:00", "signed_by": "张经理", "rating": 5}  # fmt: skip
    await reader.post(f"/api/v1/complaints/{no}/dispatch/service-form", ENGINEER, **form)
    await reader.post(f"/api/v1/complaints/{no}/dispatch/return-approval", TQ)
    await reader.tick("2026-11-23T16:00:00+08:00")
    await reader.post(f"/api/v1/complaints/{no}/dispatch/return", ENGINEER)
    await reader.tick("2026-11-24T10:00:00+08:00")
    await reader.post(f"/api/v1/complaints/{no}/dispatch/report", ENGINEER, summary="已修复",
                      expense_claim_fen=1_900_000, payments_collected_fen=30_000)  # fmt: skip
    await reader.post(f"/api/v1/complaints/{no}/dispatch/audit", TQ, quality_confirmed=True, rating_confirmed=True,
                      cost_approved_fen=2_000_000)  # fmt: skip
    await reader.until(f"/api/v1/complaints/{no}", lambda v: v["dispatch"]["audit"], "the audit")
    part = {"dispatch_order_no": "DO-1", "equipment_no": "QY80-0", "material_code": "HP-80", "quantity": 2,
            "unit_price_fen": 100_000, "responsible_engineer": "eng-sc-1", "region": "四川", "fault": "液压泵损坏",
            "return_to_hq": True, "completed_on": "2026-11-23"}  # fmt: skip
    await reader.post_when_ready(f"/api/v1/complaints/{no}/parts", ENGINEER, **part)
    await reader.until(f"/api/v1/complaints/{no}", lambda v: v["parts"], "the old part")
    old_parts = await reader.get("/api/v1/reports/old-parts", region="四川")
    assert (old_parts.headers["X-Total-Count"], [p["total_fen"] for p in old_parts.json()]) == ("1", [200_000])
    rows, response = await reader.csv("/api/v1/reports/old-parts")
    assert (response.headers["X-Total-Count"], [r["material_code"] for r in rows]) == ("1", ["HP-80"])
    # One call at 00:30 on 1 Jan 2027 in China, sent in UTC: the first quarter of 2027.
    await reader.tick("2026-12-31T12:00:00+08:00")
    await reader.calls(fault("CALL-Q-NEW-YEAR", "QY80", "QY80-NY", received_at="2026-12-31T16:30:00+00:00"))

    incidents = await reader.json("/api/v1/reports/quality-incidents", model="QY80")
    assert [(i["class"], i["loss_yuan"], i["reasons"]) for i in incidents["incidents"]] == [
        ("major", "22000.00", ["loss 22000.00 >= 20000.00 yuan"])
    ]
    cost = await reader.json("/api/v1/reports/external-failure-cost")
    quarters = {q["quarter"]: (q["complaints"], q["service_yuan"], q["parts_yuan"], q["collected_yuan"], q["net_yuan"])
                for q in cost["quarters"]}  # fmt: skip
    assert quarters == {"2026Q4": (54, "20000.00", "2000.00", "300.00", "21700.00"),
                        "2027Q1": (1, "0.00", "0.00", "0.00", "0.00")}  # fmt: skip
    in_2027 = await reader.json("/api/v1/reports/external-failure-cost", **{"from": "2027-01-01"})
    assert [q["quarter"] for q in in_2027["quarters"]] == ["2027Q1"]
    new_year = await reader.json("/api/v1/complaints", call_id="CALL-Q-NEW-YEAR")
    assert new_year[0]["received_at"] == "2027-01-01T00:30:00+08:00"
    rows, _ = await reader.csv("/api/v1/reports/external-failure-cost")
    assert [(r["quarter"], r["net_yuan"]) for r in rows] == [("2026Q4", "21700.00"), ("2027Q1", "0.00"),
                                                             ("total", "21700.00")]  # fmt: skip

    stats = await reader.json("/api/v1/reports/quality-stats", model="QY80")
    assert [(r["quarter"], r["cause"], r["complaints"], r["returns"], r["net_cost_yuan"]) for r in stats["rows"]] == [
        ("2026Q4", "quality", 1, 1, "21700.00"), ("2026Q4", "unclassified", 2, 2, "0.00"),
        ("2027Q1", "unclassified", 1, 1, "0.00"),
    ]  # fmt: skip
    rows, _ = await reader.csv("/api/v1/reports/quality-stats", by_header=True, region="四川")
    assert {(r["quarter"], r["model"]) for r in rows} == {("2026Q4", "QY60B"), ("2026Q4", "QY80"), ("2027Q1", "QY80")}
    assert (await reader.json("/api/v1/reports/quality-stats", region="湖北"))["rows"] == []
