"""The dashboard on a small realistic flow, all five processes, no event faked: every panel has data,
and a fine levied while a page listens reaches it within 2 s (server-sent events)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.runtime.settings import Settings
from tests.e2e.conftest import Running
from tests.e2e.test_dispatch import AGENT, BRANCH_MANAGER, ENGINEER, classified_fault, ok, settled, start, tick, visit
from tests.e2e.test_parts import KEEPER, OFFICER, part_cmd
from tests.support import ServiceProcess, body, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
def started(e2e_settings: Settings, tmp_path: Path) -> Iterator[dict[str, ServiceProcess]]:
    port = str(e2e_settings.http_port)
    processes = {
        name: ServiceProcess(e2e_settings, tmp_path, name, AFTERSALES_HTTP_PORT=port).start()
        for name in ("intake", "dispatch", "parts", "reporting", "api")
    }
    yield processes
    for process in processes.values():
        process.stop()


async def dashboard(running: Running, **params: str) -> dict[str, Any]:
    response = await running.http.get("/api/v1/dashboard", params=params)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


async def dashboard_when(running: Running, predicate: Any, what: str, **params: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    async def check() -> bool:
        nonlocal found
        found = await dashboard(running, **params)
        return bool(predicate(found))

    try:
        await wait_until(check, timeout_s=30, interval_s=0.2, what=what)
    except AssertionError:
        raise AssertionError(f"{what}: {found}") from None
    return found


async def record_part(running: Running, no: str, part_id: str, region: str) -> None:
    recorded = await running.command(no, "parts", ENGINEER, part_id=part_id, dispatch_order_no=f"PG-{part_id}",
                                     equipment_no="QY25K-2024-00871", material_code=f"M-{part_id}", quantity=1,
                                     unit_price_fen=3_000_000, responsible_engineer=ENGINEER[0], region=region,
                                     fault="臂架开裂", return_to_hq=False, completed_on="2026-11-24")  # fmt: skip
    assert recorded.status_code == 200, recorded.text


async def sale_and_scrap_waiting_for_approval(running: Running, no: str, day: str) -> None:
    await record_part(running, no, "SCRAP-1", "四川")
    await ok(await part_cmd(running, "SCRAP-1", "disposition", OFFICER, disposition="destroy_local"))
    await ok(await part_cmd(running, "SCRAP-1", "disposal", KEEPER))

    await record_part(running, no, "SALE-1", "湖南")
    await ok(await part_cmd(running, "SALE-1", "disposition", OFFICER, disposition="sell_local",
                            reuse_value_fen=100_000, return_freight_fen=400_000, sale_value_fen=850_000))  # fmt: skip
    price = await running.http.post("/api/v1/market-prices", json={
        "actor": {"id": OFFICER[0], "role": OFFICER[1]}, "region": "湖南", "day": day, "price_per_ton_fen": 200_000,
        "source": "广东金属报价网"})  # fmt: skip
    assert price.status_code == 200, price.text
    quotes = [{"buyer": f"回收站{i}", "contact": f"1390000000{i}", "price_fen": 790_000 + i * 5_000} for i in range(3)]
    await ok(await part_cmd(running, "SALE-1", "sale", KEEPER, buyer="回收站0", price_fen=800_000, weight_kg=5_000,
                            quotes=quotes, reason="需切割吊装, 收购商承担运输"))  # fmt: skip


def panels_filled(data: dict[str, Any]) -> bool:
    kpis = {k["kpi"]: k for k in data["kpis"]}
    return (
        all(k["denominator"] > 0 for k in kpis.values())
        and data["kpi_trend"]["months"] == ["2026-11"]
        and bool(data["complaints_by_quarter"])
        and data["deadlines"]["breached"] > 0
        and any(p["net_fen"] > 0 for p in data["fines"]["by_person"])
        and any(m["reversed_fen"] > 0 for m in data["fines"]["by_month"])
        and data["escalations"]["unacknowledged"] > 0
        and data["old_parts"]["overdue"] > 0
        and data["old_parts"]["sales_awaiting"] > 0
        and data["old_parts"]["scrap_awaiting"] > 0
    )


async def sse_events(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str, str]]:
    name, data = "message", ""
    async for line in lines:
        if line.startswith("event:"):
            name = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            data = line.removeprefix("data:").strip()
        elif line == "" and name != "message":
            yield name, data
            name, data = "message", ""


async def test_every_panel_has_data_after_a_small_flow_and_a_new_fine_shows_within_2_s(running: Running) -> None:
    await start(running)
    on_time = await classified_fault(running, "CALL-CON-1", acceptance="2026-03-01", distance_km=120.0)
    late = await classified_fault(running, "CALL-CON-2", acceptance="2026-03-01", distance_km=800.0, relay=False)
    for no in (on_time, late):
        await settled(running, no, lambda v: v["dispatch"]["status"] == "dispatched", "the dispatch")
    await visit(running, on_time)  # on time; signs a form with a part due 2026-11-30; 16:00 now
    survey = {"schema": "SurveyCompleted/1", "call_id": "CALL-CON-1", "complaint_no": on_time, "rating": 5,
              "completed_at": "2026-11-23T16:00:00+08:00"}  # fmt: skip
    await running.bus.js.publish(running.settings.names.survey_completed, body(survey))
    await settled(running, on_time, lambda v: v["surveys"], "the survey")

    # The unrelayed one: its relay deadline (13:15) breached; judged an hour before its arrival is due (48 h).
    view = await settled(running, late, lambda v: v["fines"], "FIN-RELAY-LATE")
    arrive = next(d for d in view["deadlines"] if d["rule"] == "DSP-ARRIVE")
    as_of = (dt.datetime.fromisoformat(arrive["due_at"]) - dt.timedelta(hours=1)).isoformat()
    soon = await dashboard_when(running, lambda d: d["deadlines"]["due_soon"] > 0, "a deadline due soon", as_of=as_of)
    assert {"rule": "DSP-ARRIVE", "breached": 0, "due_soon": 1} in soon["deadlines"]["by_rule"]
    assert any(r["rule"].startswith("INT-RELAY") and r["breached"] == 1 for r in soon["deadlines"]["by_rule"])

    await tick(running, "2026-11-25T10:15:00+08:00")  # the arrival is late: DSP-ARRIVE breached, escalated
    await sale_and_scrap_waiting_for_approval(running, late, "2026-11-25")
    await tick(running, "2026-12-02T09:00:00+08:00")  # the signed form's part is overdue (due 2026-11-30)
    relay_fine = next(f for f in view["fines"] if f["rule"] == "FIN-RELAY-LATE")
    await ok(await running.command(late, "fines/dispute", AGENT, fine_id=relay_fine["fine_id"], reason="系统故障"))
    await ok(await running.command(late, "fines/reverse", BRANCH_MANAGER, fine_id=relay_fine["fine_id"],
                                   reason="核实属实"))  # fmt: skip

    as_of = "2026-12-02T09:00:00+08:00"
    data = await dashboard_when(running, panels_filled, "every panel with data", as_of=as_of)
    kpis = {k["kpi"]: k for k in data["kpis"]}
    assert (kpis["service_on_time"]["numerator"], kpis["service_on_time"]["denominator"]) == (1, 2)
    assert (kpis["customer_satisfaction"]["exact"], kpis["customer_satisfaction"]["met"]) == ("1/1", True)
    assert (kpis["service_at_fault"]["numerator"], kpis["service_at_fault"]["denominator"]) == (0, 2)
    assert kpis["service_on_time"]["label"] == "服务及时率"
    assert data["complaints_by_quarter"] == [{"quarter": "2026Q4", "model": "QY25K", "cause": "quality",
                                              "complaints": 2}]  # fmt: skip
    assert {"complaint_no": late, "rule": "DSP-ARRIVE"}.items() <= next(
        i for i in data["deadlines"]["items"] if i["rule"] == "DSP-ARRIVE").items()  # fmt: skip
    reversed_relay = [m for m in data["fines"]["by_month"] if m["reversed_fen"] == relay_fine["amount_fen"]]
    assert reversed_relay, data["fines"]["by_month"]
    assert data["generated_at"].endswith("+08:00")
    assert data["options"] == {"regions": ["四川"], "models": ["QY25K"]}
    assert (await dashboard(running, region="北京", as_of=as_of))["complaints"] == 0
    assert (await dashboard(running, model="QY25K", **{"from": "2026-11-23", "to": "2026-11-24"}))["complaints"] == 2

    # Live: a page listening on the stream sees a new fine within 2 s of the command.
    fined_before = {p["person"]: p["net_fen"] for p in data["fines"]["by_person"]}
    async with running.http.stream("GET", "/api/v1/events/stream", timeout=30) as stream:
        events = sse_events(stream.aiter_lines())
        assert (await asyncio.wait_for(anext(events), 5))[0] == "ready"
        await ok(await running.command(on_time, "fines", BRANCH_MANAGER, rule="FIN-FORM-FALSIFIED",
                                       amount_fen=30_000, reason="服务单工时不实"))  # fmt: skip
        sent = time.monotonic()
        shown = False
        while not shown:
            name, _ = await asyncio.wait_for(anext(events), 2.0 - (time.monotonic() - sent))
            if name == "change":
                now = await dashboard(running, as_of=as_of)
                after = {p["person"]: p["net_fen"] for p in now["fines"]["by_person"]}
                shown = after.get(ENGINEER[0], 0) == fined_before.get(ENGINEER[0], 0) + 30_000
        elapsed = time.monotonic() - sent
    assert elapsed < 2.0, f"the fine showed {elapsed:.2f} s after the command"
