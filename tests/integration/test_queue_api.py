"""GET /api/v1/queue against real NATS JetStream and PostgreSQL: calls in, commands over HTTP, the
external clock ticked, and each role's work queue out, by due time with the missed ones overdue."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.dispatch.main import build as build_dispatch
from services.reporting.api import create_api
from services.reporting.main import build_store
from shared.runtime.clock import encode_tick
from shared.runtime.service import ServiceRuntime
from shared.runtime.settings import Settings
from tests.api_support import serving, staff_auth
from tests.integration.conftest import System
from tests.support import call, wait_until

pytestmark = pytest.mark.integration


class Desk:
    base: str
    settings: Settings

    def __init__(self, system: System, http: httpx.AsyncClient, clocks: list[ServiceRuntime]) -> None:
        self.system, self.http, self.clocks = system, http, clocks

    async def tick(self, iso: str) -> None:
        now = dt.datetime.fromisoformat(iso)
        await self.system.bus.js.publish(self.system.bus.names.clock_tick, encode_tick(now))

        async def seen() -> bool:
            return all((r.ports.clock.known_now() or now - dt.timedelta(1)) >= now for r in self.clocks)

        await wait_until(seen, what=f"the services at {iso}")

    async def register(self, call_id: str, received_at: str, agent: str) -> str:
        await self.system.bus.publish_call(call(call_id, received_at=received_at, agent_id=agent))
        found: list[dict[str, Any]] = []

        async def visible() -> bool:
            nonlocal found
            found = (await self.http.get("/api/v1/complaints", params={"call_id": call_id})).json()
            return bool(found)

        await wait_until(visible, what=f"complaint for {call_id}")
        return str(found[0]["complaint_no"])

    async def queue(self, **params: str) -> dict[str, Any]:
        response = await self.http.get("/api/v1/queue", params=params)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
async def desk(system: System, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Desk]:
    monkeypatch.setenv("AFTERSALES_CLOCK", "external")  # the queue's now: the latest event, not the wall clock
    dispatch = build_dispatch(settings)  # notes the escalations of intake's missed deadlines
    await dispatch.start()
    api = create_api(lambda: build_store(settings), settings.nats_url, settings.names)
    try:
        async with (
            serving(api) as base,
            httpx.AsyncClient(base_url=base, timeout=30, auth=staff_auth(settings)) as http,  # a viewer reads
        ):
            desk = Desk(system, http, [system.intake, dispatch])
            desk.base, desk.settings = base, settings
            yield desk
    finally:
        await dispatch.stop()


def rows(body: dict[str, Any]) -> list[tuple[str, str, str | None, bool]]:
    return [(i["kind"], i["complaint_no"], i["due_at"], i["overdue"]) for i in body["items"]]


async def test_each_role_sees_its_waiting_work_by_due_time_with_the_missed_overdue(desk: Desk) -> None:
    await desk.tick("2026-11-23T09:00:00+08:00")
    late = await desk.register("CALL-Q-1", "2026-11-23T09:15:00+08:00", "agent-017")
    done = await desk.register("CALL-Q-2", "2026-11-23T10:00:00+08:00", "agent-021")
    later = await desk.register("CALL-Q-3", "2026-11-23T13:00:00+08:00", "agent-017")
    relayed = await desk.http.post(
        f"/api/v1/complaints/{done}/relay", json={"actor": {"id": "agent-021", "role": "agent"}}
    )
    assert relayed.status_code == 200, relayed.text
    await desk.tick("2026-11-23T14:00:00+08:00")  # the first call's relay was due 13:15

    async def breached() -> bool:
        view = (await desk.http.get(f"/api/v1/complaints/{late}")).json()
        return any(e["rule"] == "INT-RELAY-4WH" and e.get("ack_due_at") for e in view["escalations"])

    await wait_until(breached, what="the missed relay, escalated")

    mine = await desk.queue(role="agent", person="agent-017")
    assert rows(mine) == [
        ("relay", late, "2026-11-23T13:15:00+08:00", True),
        ("relay", later, "2026-11-23T17:00:00+08:00", False),
    ]
    assert (mine["count"], mine["overdue"], mine["role_label"], mine["person"]) == (2, 1, "客服/受理人", "agent-017")
    assert mine["now"] == "2026-11-23T14:00:00+08:00"  # external clock: the latest event
    assert mine["items"][0]["title"] == "转交技质部"
    assert mine["items"][0]["customer"] == "中*******"  # 中铁十局物资公司, masked for an unknown reader (PII-VIEW)
    assert (await desk.queue(role="agent", person="agent-021"))["items"] == []

    tq = await desk.queue(role="tq")
    assert [(i["kind"], i["complaint_no"]) for i in tq["items"]] == [("classify", late), ("classify", done),
                                                                       ("classify", later)]  # fmt: skip
    dues = [i["due_at"] for i in tq["items"]]
    assert dues == sorted(dues)
    assert all(d.endswith("+08:00") for d in dues)

    manager = await desk.queue(role="branch_manager")
    assert [(i["kind"], i["complaint_no"], i["rule"]) for i in manager["items"]] == [
        ("acknowledge", late, "INT-RELAY-4WH"),
    ]
    assert manager["items"][0]["due_at"] == "2026-11-24T14:00:00+08:00"  # ESC-CHAIN: 24 h to acknowledge

    as_csv = await desk.http.get("/api/v1/queue", params={"role": "agent", "person": "agent-017", "format": "csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    lines = as_csv.text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("due_at,overdue,title,kind")
    assert lines[1].startswith(f"2026-11-23T13:15:00+08:00,True,转交技质部,relay,agent,agent-017,{late}")
    assert len(lines) == 3


async def test_a_reader_may_ask_for_any_role_of_the_rulebook_and_by_default_sees_everyones(desk: Desk) -> None:
    assert (await desk.queue())["role"] == "ops"  # a viewer, who reads everything
    assert (await desk.http.get("/api/v1/queue", params={"role": "janitor"})).status_code == 422
    assert (await desk.http.get("/api/v1/queue", params={"role": "agent", "persn": "x"})).status_code == 422
    assert (await desk.queue(role="finance"))["items"] == []


async def test_a_logged_in_person_gets_their_own_queue_whatever_the_query_asks(desk: Desk) -> None:
    engineer = staff_auth(desk.settings, reader=("eng-sc-9", "engineer"))
    async with httpx.AsyncClient(base_url=desk.base, timeout=30, auth=engineer) as http:
        body = (await http.get("/api/v1/queue", params={"role": "gm", "person": "gm-1"})).json()
    assert (body["role"], body["person"], body["role_label"]) == ("engineer", "eng-sc-9", "售后服务技术人员")
    async with httpx.AsyncClient(base_url=desk.base, timeout=30) as anonymous:
        assert (await anonymous.get("/api/v1/queue", params={"role": "gm"})).status_code == 401
