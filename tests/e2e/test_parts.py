"""Old parts end to end with the external clock: real intake, parts, reporting and API processes.

Dispatch's `PartsReplaced` is published onto the dispatch stream exactly as dispatch's relay would
(envelope, `Nats-Msg-Id`, increasing `Aftersales-Position`, `Aftersales-Type`), so these tests do not
depend on the dispatch service.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.events.base import DomainEvent
from shared.events.dispatch_events import PartsReplaced, ReplacedPart
from shared.events.envelope import (
    HDR_CORRELATION,
    HDR_MSG_ID,
    HDR_POSITION,
    HDR_TYPE,
    Envelope,
    encode_envelope,
    event_id_for,
)
from shared.runtime.settings import Settings
from shared.runtime.streams import ensure_streams
from tests.api_support import staff_auth
from tests.e2e.conftest import Running
from tests.support import Bus, ServiceProcess, call, wait_until, wire_event

pytestmark = pytest.mark.e2e

ENGINEER = ("eng-9", "engineer")
KEEPER = ("wk-1", "warehouse_keeper")
OFFICER = ("opo-1", "old_parts_officer")
GM = ("gm-1", "gm")


@pytest.fixture
def parts_started(e2e_settings: Settings, tmp_path: Path) -> Iterator[dict[str, ServiceProcess]]:
    port = str(e2e_settings.http_port)
    processes = {
        name: ServiceProcess(e2e_settings, tmp_path, name, AFTERSALES_HTTP_PORT=port).start()
        for name in ("intake", "parts", "reporting", "api")
    }
    yield processes
    for process in processes.values():
        process.stop()


@pytest.fixture
async def running(
    e2e_settings: Settings, parts_started: dict[str, ServiceProcess], tmp_path: Path
) -> AsyncIterator[Running]:
    bus = await Bus.connect(e2e_settings)
    await ensure_streams(bus.js, e2e_settings.names)
    http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{e2e_settings.http_port}", timeout=15,
                             auth=staff_auth(e2e_settings))  # fmt: skip

    async def healthy() -> bool:
        try:
            return (await http.get("/healthz")).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        await wait_until(healthy, timeout_s=30, interval_s=0.1, what="the read API")
        await asyncio.sleep(0.5)  # consumers attach
        yield Running(e2e_settings, bus, http, parts_started, tmp_path)
    finally:
        await http.aclose()
        await bus.close()


class DispatchStream:
    """Publishes dispatch events the way dispatch's relay does (shared/runtime/relay.py)."""

    def __init__(self, running: Running) -> None:
        self.running = running
        self.position = 0

    async def publish(self, event_type: str, struct: DomainEvent, complaint_no: str, at: dt.datetime) -> None:
        self.position += 1
        aggregate_id = uuid.uuid4()
        envelope = Envelope(
            event_id=event_id_for(aggregate_id, 1),
            type=event_type,
            version=1,
            occurred_at=at,
            service="dispatch",
            position=self.position,
            aggregate_id=aggregate_id,
            aggregate_version=1,
            correlation_id=complaint_no,
            causation_id="test:dispatch",
            data=struct.wire_data(),
        )
        headers = {
            HDR_MSG_ID: str(envelope.event_id),
            HDR_POSITION: str(self.position),
            HDR_TYPE: event_type,
            HDR_CORRELATION: complaint_no,
        }
        names = self.running.settings.names
        await self.running.bus.js.publish(
            names.event("dispatch", event_type), encode_envelope(envelope), headers=headers
        )


def replaced(part_id: str, **overrides: Any) -> ReplacedPart:
    fields: dict[str, Any] = {
        "part_id": part_id,
        "dispatch_order_no": "PG-20261124-001",
        "equipment_no": "QY25K-2024-00871",
        "material_code": "M-OILCYL-25",
        "description": "主臂伸缩油缸",
        "quantity": 1,
        "unit_price_fen": 1_250_000,
        "total_fen": 1_250_000,
        "responsible_engineer": "eng-9",
        "region": "四川",
        "fault": "油缸内泄",
        "return_to_hq": True,
        "completed_on": dt.date(2026, 11, 24),
    }
    fields.update(overrides)
    return ReplacedPart(**fields)


async def part_cmd(running: Running, part_id: str, path: str, actor: tuple[str, str], **body: Any) -> httpx.Response:
    payload = {"actor": {"id": actor[0], "role": actor[1]}, **body}
    return await running.http.post(f"/api/v1/parts/{part_id}/{path}", json=payload)


async def part_view(running: Running, part_id: str, predicate: Any = bool, what: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {}

    async def check() -> bool:
        nonlocal found
        response = await running.http.get(f"/api/v1/parts/{part_id}")
        found = response.json() if response.status_code == 200 else {}
        return bool(found) and bool(predicate(found))

    await wait_until(check, timeout_s=30, interval_s=0.1, what=what or f"part {part_id}")
    return found


async def complaint_no_for(running: Running, call_id: str, received_at: str = "2026-11-23T09:15:00+08:00") -> str:
    await running.bus.publish_call(call(call_id, received_at=received_at))
    no: str = (await running.complaint_for_call(call_id))["complaint_no"]
    return no


async def test_an_unreturned_part_grows_its_delay_and_is_fined_once_then_returns_to_hq(running: Running) -> None:
    await running.tick("2026-11-23T09:00:00+08:00")
    no = await complaint_no_for(running, "CALL-PARTS-LATE")
    dispatch = DispatchStream(running)
    forms = wire_event(
        PartsReplaced,
        complaint_no=no,
        dispatch_id="D-1",
        completed_at=dt.datetime.fromisoformat("2026-11-24T16:00:00+08:00"),
        parts=[replaced("P-LATE"), replaced("P-EXCUSED", material_code="M-SEAL-9")],
    )
    await dispatch.publish("PartsReplaced", forms, no, forms.completed_at)
    await dispatch.publish("PartsReplaced", forms, no, forms.completed_at)  # re-published: no second record

    late = await part_view(running, "P-LATE")
    assert (late["due_date"], late["delay_days"], late["dispatch_order_no"]) == ("2026-12-01", 0, "PG-20261124-001")

    await running.tick("2026-11-28T10:00:00+08:00")
    await asyncio.sleep(0.3)
    excuse = await part_cmd(
        running, "P-EXCUSED", "report-delay", ENGINEER, reason="密封件需厂家分析", expected_on="2026-12-06"
    )
    assert excuse.status_code == 200, excuse.text
    assert (await part_cmd(running, "P-LATE", "report-delay", KEEPER, reason="x")).status_code == 403

    await running.tick("2026-12-01T23:00:00+08:00")  # still on the due date: nothing yet
    await running.tick("2026-12-02T09:00:00+08:00")
    await part_view(running, "P-LATE", lambda p: p["delay_days"] == 1, "one day late")
    running.restart("parts")  # SIGKILL between ticks: the delay keeps counting, the fine stays single
    await running.tick("2026-12-04T09:00:00+08:00")
    await running.tick("2026-12-05T08:00:00+08:00")
    late = await part_view(running, "P-LATE", lambda p: p["delay_days"] == 4, "four days late")
    excused = await part_view(running, "P-EXCUSED", lambda p: p["delay_days"] == 4, "excused part counted too")
    assert excused["delay_excused"] is True
    await asyncio.sleep(1.0)

    view = await running.complaint(no)
    fines = [f for f in view["fines"] if f["rule"] == "FIN-PART-LATE"]
    assert [(f["person"], f["amount_fen"], f["part_id"]) for f in fines] == [("eng-9", 5_000, "P-LATE")]
    assert len(view["parts"]) == 2

    # Hand-in to the regional warehouse keeper, shipment, receipt at headquarters.
    assert (await part_cmd(running, "P-LATE", "ship", KEEPER)).status_code == 409  # not received yet
    handed = await part_cmd(running, "P-LATE", "hand-in", ENGINEER)
    assert handed.status_code == 200, handed.text
    assert (await part_cmd(running, "P-LATE", "recover", KEEPER)).status_code == 200
    await running.tick("2026-12-06T10:00:00+08:00")
    await asyncio.sleep(0.3)
    assert (await part_cmd(running, "P-LATE", "ship", KEEPER, waybill="SF-001")).status_code == 200
    await running.tick("2026-12-09T10:00:00+08:00")
    await asyncio.sleep(0.3)
    returned = await part_cmd(running, "P-LATE", "receive-at-hq", OFFICER)
    assert returned.status_code == 200, returned.text
    assert returned.json()["events"] == ["PartReturned"]
    await running.tick("2026-12-10T10:00:00+08:00")  # after hand-in the delay no longer grows
    done = await part_view(running, "P-LATE", lambda p: p["status"] == "returned", "returned to HQ")
    assert (done["hand_in_date"], done["recovery_date"], done["ship_date"], done["returned_date"]) == (
        "2026-12-05",
        "2026-12-05",
        "2026-12-06",
        "2026-12-09",
    )
    assert done["delay_days"] == 4

    # The old-part return progress report (旧件返司进度汇报表), JSON and CSV.
    report = (await running.http.get("/api/v1/reports/old-parts")).json()
    row = next(r for r in report if r["part_id"] == "P-LATE")
    assert row == {
        **row,
        "complaint_no": no,
        "dispatch_order_no": "PG-20261124-001",
        "equipment_no": "QY25K-2024-00871",
        "material_code": "M-OILCYL-25",
        "quantity": 1,
        "unit_price_fen": 1_250_000,
        "total_fen": 1_250_000,
        "responsible_engineer": "eng-9",
        "region": "四川",
        "fault": "油缸内泄",
        "return_to_hq": True,
        "completed_on": "2026-11-24",
        "due_date": "2026-12-01",
        "hand_in_date": "2026-12-05",
        "delay_days": 4,
        "recovery_date": "2026-12-05",
        "ship_date": "2026-12-06",
    }
    response = await running.http.get("/api/v1/reports/old-parts", headers={"Accept": "text/csv"})
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text.lstrip("\ufeff"))))
    csv_row = next(r for r in rows if r["part_id"] == "P-LATE")
    assert (csv_row["due_date"], csv_row["delay_days"], csv_row["recovery_date"], csv_row["ship_date"]) == (
        "2026-12-01",
        "4",
        "2026-12-05",
        "2026-12-06",
    )
    assert {
        "dispatch_order_no",
        "equipment_no",
        "material_code",
        "quantity",
        "unit_price_fen",
        "total_fen",
        "responsible_engineer",
        "region",
        "fault",
        "return_to_hq",
        "completed_on",
        "hand_in_date",
    } <= set(csv_row)


async def published(running: Running, event_type: str, count: int) -> list[dict[str, Any]]:
    """The envelopes the parts service published on `aftersales.parts.<event_type>`."""
    sub = await running.bus.js.subscribe(running.settings.names.event("parts", event_type), ordered_consumer=True)
    try:
        return [json.loads((await sub.next_msg(timeout=10)).data) for _ in range(count)]
    finally:
        await sub.unsubscribe()


async def test_a_sale_below_the_floor_needs_the_gms_approval_and_every_sale_names_floor_quotes_rule(
    running: Running,
) -> None:
    await running.tick("2026-12-02T09:00:00+08:00")
    no = await complaint_no_for(running, "CALL-PARTS-SALE")
    quotes = [
        {"buyer": f"废品回收站{i}", "contact": f"1390000000{i}", "price_fen": 790_000 + i * 5_000} for i in range(3)
    ]
    for part_id, material in (("S-LOW", "M-BOOM-1"), ("S-FAIR", "M-BOOM-2")):
        recorded = await running.command(
            no,
            "parts",
            ENGINEER,
            part_id=part_id,
            dispatch_order_no="PG-9",
            equipment_no="QY25K-2024-00871",
            material_code=material,
            quantity=1,
            unit_price_fen=3_000_000,
            responsible_engineer="eng-9",
            region="湖南",
            fault="臂架开裂",
            return_to_hq=False,
            completed_on="2026-12-01",
        )
        assert recorded.status_code == 200, recorded.text
        assert recorded.json()["events"] == ["PartRecorded"]
        wrong = await part_cmd(running, part_id, "disposition", OFFICER, disposition="sell_local", claim_value_fen=1)
        assert wrong.status_code == 409
        assert "PRT-DISPOSITION" in wrong.json()["error"]
        decided = await part_cmd(
            running,
            part_id,
            "disposition",
            OFFICER,
            disposition="sell_local",
            reuse_value_fen=100_000,
            return_freight_fen=400_000,
            sale_value_fen=850_000,
        )
        assert decided.status_code == 200, decided.text

    no_price = await part_cmd(
        running,
        "S-LOW",
        "sale",
        KEEPER,
        buyer="废品回收站0",
        price_fen=800_000,
        weight_kg=5_000,
        quotes=quotes,
        reason="需切割吊装",
    )
    assert no_price.status_code == 409
    assert "no market price" in no_price.json()["error"]
    price = await running.http.post(
        "/api/v1/market-prices",
        json={
            "actor": {"id": OFFICER[0], "role": OFFICER[1]},
            "region": "湖南",
            "day": "2026-12-02",
            "price_per_ton_fen": 200_000,
            "source": "广东金属报价网",
        },
    )
    assert price.status_code == 200, price.text

    two_quotes = await part_cmd(
        running,
        "S-LOW",
        "sale",
        KEEPER,
        buyer="废品回收站0",
        price_fen=800_000,
        weight_kg=5_000,
        quotes=quotes[:2],
        reason="需切割吊装",
    )
    assert two_quotes.status_code == 409
    assert "3 buyer quotes" in two_quotes.json()["error"]
    no_reason = await part_cmd(
        running, "S-LOW", "sale", KEEPER, buyer="废品回收站0", price_fen=800_000, weight_kg=5_000, quotes=quotes
    )
    assert no_reason.status_code == 409
    assert "reason" in no_reason.json()["error"]
    reported = await part_cmd(
        running,
        "S-LOW",
        "sale",
        KEEPER,
        buyer="废品回收站0",
        price_fen=800_000,
        weight_kg=5_000,
        quotes=quotes,
        reason="需切割吊装, 收购商承担运输",
    )
    assert reported.status_code == 200, reported.text

    # Below the floor (85 % of 10 000 yuan = 8 500 yuan): refused without the GM's approval.
    refused = await part_cmd(running, "S-LOW", "sale/record", OFFICER)
    assert refused.status_code == 409
    assert "general manager's approval" in refused.json()["error"]
    assert (await part_cmd(running, "S-LOW", "sale/verify", OFFICER)).status_code == 200
    assert (await part_cmd(running, "S-LOW", "sale/approve", OFFICER)).status_code == 403
    still = await part_cmd(running, "S-LOW", "sale/record", OFFICER)
    assert still.status_code == 409
    assert "general manager's approval" in still.json()["error"]
    assert (await part_cmd(running, "S-LOW", "sale/approve", GM)).status_code == 200
    sold = await part_cmd(running, "S-LOW", "sale/record", OFFICER)
    assert sold.status_code == 200, sold.text
    assert sold.json()["events"] == ["PartSold"]

    # At exactly the floor: no approvals needed.
    fair = await part_cmd(
        running, "S-FAIR", "sale", KEEPER, buyer="废品回收站2", price_fen=850_000, weight_kg=5_000, quotes=quotes
    )
    assert fair.status_code == 200, fair.text
    assert (await part_cmd(running, "S-FAIR", "sale/record", KEEPER)).status_code == 200

    envelopes = {e["aggregate_id"]: e for e in await published(running, "PartSold", 2)}
    assert len(envelopes) == 2
    for envelope in envelopes.values():
        assert envelope["rule"] == "PRT-PRICE-FLOOR"
        assert envelope["policy_version"] == "parts-2026.2"
        assert envelope["correlation_id"] == no
        assert envelope["inputs"]["market_price_per_ton_fen"] == 200_000
        assert envelope["inputs"]["price_source"] == "market:湖南:2026-12-02"
        data = envelope["data"]
        assert data["floor_fen"] == 850_000
        assert data["outputs"]["floor_ratio"] == "0.85"
        assert data["quotes"] == quotes
        assert data["payable_to"] == "finance"
    by_price = {e["data"]["price_fen"]: e["data"] for e in envelopes.values()}
    assert by_price[800_000]["below_floor"] is True
    assert (by_price[800_000]["verified_by"], by_price[800_000]["approved_by"]) == ("opo-1", "gm-1")
    assert by_price[850_000]["below_floor"] is False
    assert by_price[850_000]["approved_by"] is None

    low = await part_view(running, "S-LOW", lambda p: p["status"] == "sold", "the sale projected")
    assert (low["sale"]["floor_fen"], low["sale"]["proceeds_fen"], low["sale"]["rule"]) == (
        850_000,
        800_000,
        "PRT-PRICE-FLOOR",
    )


async def test_split_scrap_lots_need_leadership_and_responsibility_escalates_when_missed(running: Running) -> None:
    await running.tick("2026-12-02T09:00:00+08:00")
    no = await complaint_no_for(running, "CALL-PARTS-SCRAP")
    for i in range(3):  # one 60 000-yuan lot split into three of 20 000
        recorded = await running.command(
            no,
            "parts",
            ENGINEER,
            part_id=f"L-{i}",
            dispatch_order_no=f"PG-{i}",
            equipment_no="QY25K-1",
            material_code="M-FRAME",
            quantity=1,
            unit_price_fen=2_000_000,
            responsible_engineer="eng-9",
            region="四川",
            fault="锈蚀",
            return_to_hq=False,
            completed_on="2026-12-01",
        )
        assert recorded.status_code == 200, recorded.text
        assert (
            await part_cmd(running, f"L-{i}", "disposition", OFFICER, disposition="destroy_local")
        ).status_code == 200
        assert (await part_cmd(running, f"L-{i}", "disposal", KEEPER)).status_code == 200
    site = await part_cmd(running, "L-0", "disposal/approve", ("bm-1", "branch_manager"))
    assert site.status_code == 403
    assert "leadership" in site.json()["error"]
    assert (await part_cmd(running, "L-0", "disposal/record", KEEPER)).status_code == 409  # not approved
    assert (await part_cmd(running, "L-0", "disposal/approve", GM)).status_code == 200
    assert (await part_cmd(running, "L-0", "disposal/record", KEEPER)).status_code == 200

    started = await part_cmd(running, "L-1", "responsibility", ("tq-3", "tq"), part_class="domestic_non_critical")
    assert started.status_code == 200, started.text
    await running.tick("2026-12-09T23:00:00+08:00")  # due 2026-12-09: not yet
    await running.tick("2026-12-10T00:30:00+08:00")
    part = await part_view(running, "L-1", lambda p: (p["responsibility"] or {}).get("escalated"), "the escalation")
    assert part["responsibility"]["due_date"] == "2026-12-09"
    settled = await part_cmd(
        running,
        "L-1",
        "responsibility/settle",
        ("tq-3", "tq"),
        attributed_to="supplier",
        party="某结构件供应商",
        cost_fen=2_000_000,
        in_warranty=True,  # PRT-SUPPLIER-CLAIM: only a part that failed in warranty is claimed back
    )
    assert settled.status_code == 200
    assert "SupplierClaimOpened" in settled.json()["events"]
    assert (
        await part_cmd(running, "L-1", "claim/settle", ("fin-1", "finance"), recovered_fen=2_000_000)
    ).status_code == 200
    view = await running.complaint(no)
    escalations = [(e["rule"], e["to"], e.get("part_id")) for e in view["escalations"] if e["rule"].startswith("PRT-")]
    assert escalations == [("PRT-RESPONSIBILITY", "branch_manager", "L-1")]
    part = await part_view(running, "L-1", lambda p: (p["supplier_claim"] or {}).get("status") == "settled", "claim")
    assert part["responsibility"]["attributed_to"] == "supplier"
    disposed = await part_view(running, "L-0", lambda p: p["status"] == "disposed", "the disposal")
    assert (disposed["disposal"]["level"], disposed["disposal"]["total_fen"]) == ("leadership", 6_000_000)


async def test_a_part_from_dispatch_without_region_is_flagged_and_sold_only_once_its_record_is_completed(
    running: Running,
) -> None:
    """PRT-RECORD (004 附件三: every line names 设备编号 and 区域) and PRT-REMOTE, as the old-parts staff see it."""
    await running.tick("2027-12-30T09:00:00+08:00")
    no = await complaint_no_for(running, "CALL-PARTS-NOREGION", "2027-12-30T09:15:00+08:00")
    dispatch = DispatchStream(running)
    forms = wire_event(
        PartsReplaced,
        complaint_no=no,
        dispatch_id="D-NR",
        completed_at=dt.datetime.fromisoformat("2027-12-30T16:00:00+08:00"),
        parts=[replaced("P-NOREGION", region="", equipment_no="", return_to_hq=False)],
    )
    await dispatch.publish("PartsReplaced", forms, no, forms.completed_at)
    part = await part_view(running, "P-NOREGION", lambda p: p["record_incomplete"], "flagged incomplete")
    assert (part["record_missing"], part["sale_blocked_by"]) == (["equipment_no", "region"], ["region"])
    report = (await running.http.get("/api/v1/reports/old-parts")).json()
    assert next(r for r in report if r["part_id"] == "P-NOREGION")["record_missing"] == ["equipment_no", "region"]
    csv_report = await running.http.get("/api/v1/reports/old-parts", headers={"Accept": "text/csv"})
    rows = list(csv.DictReader(io.StringIO(csv_report.text.lstrip("\ufeff"))))
    assert next(r for r in rows if r["part_id"] == "P-NOREGION")["record_missing"] == "equipment_no region"

    decided = await part_cmd(running, "P-NOREGION", "disposition", OFFICER, disposition="sell_local",
                             reuse_value_fen=100_000, return_freight_fen=400_000, sale_value_fen=850_000)  # fmt: skip
    assert decided.status_code == 200, decided.text
    await running.tick("2028-01-03T09:00:00+08:00")
    quotes = [{"buyer": f"回收站{i}", "contact": f"1390000000{i}", "price_fen": 765_000} for i in range(3)]
    sale = {"buyer": "回收站0", "price_fen": 765_000, "weight_kg": 5_000, "quotes": quotes,
            "reference_class": "structural", "remote_reduction": "0.10"}  # fmt: skip
    refused = await part_cmd(running, "P-NOREGION", "sale", KEEPER, **sale)
    assert refused.status_code == 409
    assert "lacks the region" in refused.json()["error"]
    assert "PRT-REMOTE" in refused.json()["error"]
    assert (await part_cmd(running, "P-NOREGION", "sale/record", OFFICER)).status_code == 409

    assert (await part_cmd(running, "P-NOREGION", "record", ENGINEER, region="四川")).status_code == 403
    completed = await part_cmd(running, "P-NOREGION", "record", KEEPER, region="四川", equipment_no="QY25K-2024-00871")
    assert completed.status_code == 200, completed.text
    assert completed.json()["events"] == ["PartRecordCompleted"]
    part = await part_view(running, "P-NOREGION", lambda p: not p["record_incomplete"], "the completed record")
    assert (part["region"], part["equipment_no"], part["record_missing"]) == ("四川", "QY25K-2024-00871", [])

    # 四川 is remote: floor = 10 000 × 0.85 × 0.90 = 7 650 yuan; 7 650 sells without the GM.
    reported = await part_cmd(running, "P-NOREGION", "sale", KEEPER, **sale)
    assert reported.status_code == 200, reported.text
    sold = await part_cmd(running, "P-NOREGION", "sale/record", OFFICER)
    assert sold.status_code == 200, sold.text
    part = await part_view(running, "P-NOREGION", lambda p: p["status"] == "sold", "the sale")
    assert (part["sale"]["floor_fen"], part["sale"]["inputs"]["region"]) == (765_000, "四川")


async def test_a_split_lot_approved_at_site_is_refused_until_the_department_approves(running: Running) -> None:
    """PRT-SCRAP-APPROVAL (004 废旧物资 1.5–1.8): 15 000 approved at site, its other half arrives within 30 days."""
    await running.tick("2027-12-28T09:00:00+08:00")
    no = await complaint_no_for(running, "CALL-PARTS-RELEVEL", "2027-12-28T09:15:00+08:00")
    for part_id in ("H-1", "H-2"):
        recorded = await running.command(
            no, "parts", ENGINEER, part_id=part_id, dispatch_order_no=f"PG-{part_id}", equipment_no="QY25K-7",
            material_code="M-TRUSS", quantity=1, unit_price_fen=1_500_000, responsible_engineer="eng-9",
            region="湖南", fault="锈蚀", return_to_hq=False, completed_on="2027-12-27",
        )  # fmt: skip
        assert recorded.status_code == 200, recorded.text
        destroy = await part_cmd(running, part_id, "disposition", OFFICER, disposition="destroy_local")
        assert destroy.status_code == 200, destroy.text
    assert (await part_cmd(running, "H-1", "disposal", KEEPER)).status_code == 200
    assert (await part_cmd(running, "H-1", "disposal/approve", ("bm-1", "branch_manager"))).status_code == 200

    await running.tick("2028-01-15T09:00:00+08:00")
    for part_id in ("H-1", "H-2"):  # the clock's overdue checks (PRT-DUE-7D) are done before anyone acts
        await part_view(running, part_id, lambda p: p["delay_days"] == 12, "the overdue check")
    second = await part_cmd(running, "H-2", "disposal", KEEPER)
    assert second.status_code == 200, second.text
    assert "DisposalRelevelled" in second.json()["events"]
    first = await part_view(running, "H-1", lambda p: (p["disposal"] or {}).get("relevelled_at"), "re-levelled")
    assert first["disposal"] == {
        **first["disposal"],
        "level": "department",
        "total_fen": 3_000_000,
        "approved_by": None,
        "superseded_approval": {"by": "bm-1", "level": "site"},
        "awaiting": "department approval (gm, old_parts_officer)",
    }
    refused = await part_cmd(running, "H-1", "disposal/record", KEEPER)
    assert refused.status_code == 409
    assert "need department approval" in refused.json()["error"]
    assert (await part_cmd(running, "H-1", "disposal/approve", ("bm-1", "branch_manager"))).status_code == 403
    assert (await part_cmd(running, "H-1", "disposal/approve", OFFICER)).status_code == 200
    assert (await part_cmd(running, "H-1", "disposal/record", KEEPER)).status_code == 200
    done = await part_view(running, "H-1", lambda p: p["status"] == "disposed", "disposed at department level")
    assert (done["disposal"]["level"], done["disposal"]["approved_by"]) == ("department", "opo-1")
