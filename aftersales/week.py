"""A simulated working week (Mon 2026-11-23 09:00 → Fri 2026-11-27 16:00, China time) on a running system.

Every service runs with the external clock (`AFTERSALES_CLOCK=external`); this module ticks it,
publishes telephony calls and surveys on NATS and sends staff commands through the HTTP API, as
people would. Nothing is written to a store directly, so the read model, the fines and the
deadlines are the services' own. Used by the browser tests (tests/browser) and `aftersales screenshots`.

What the week leaves behind (`Week.complaints`, by label):
- `relayed_late`: relayed after INT-RELAY-4WH → FIN-RELAY-LATE, disputed by the agent (the branch
  manager's queue decides it);
- `serviced`: dispatched, visited, reported, audited, surveyed; its old part is still to be handed in
  (due Mon 11-30) and a second part recorded by hand came in late (FIN-PART-LATE);
- `not_arrived`: dispatched 800 km away, the engineer never arrives: DSP-ARRIVE breached, escalated
  to the branch manager and on to management (ESC-CHAIN);
- `fee_pending`: out of warranty, waiting for the customer's fee consent;
- `fee_refused`: the customer refused the fee, waiting for the deputy general manager;
- `left_site`: the engineer left without approval (FIN-RETURN-UNAPPROVED), the report is in, tq-005 audits;
  its part was handed in and waits for the warehouse keeper;
- `unclassified`: relayed Thursday, not classified (INT-REPLY-8WH breached Friday);
- `no_solution`: classified Friday, solution still due;
- `unrelayed`: received Friday afternoon, relay due Monday;
- `consultation`: answered the same day;
plus a dozen generated calls (aftersales.simulate) on Wednesday and Thursday, some relayed and classified.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import httpx
import nats
import psycopg
from nats.aio.client import Client as NATS
from psycopg.sql import SQL, Identifier

from aftersales.simulate import CHINA, simulate
from shared.events.subjects import Names
from shared.runtime.clock import encode_tick

AGENTS = ("agent-017", "agent-021", "agent-008", "agent-030", "agent-012", "agent-040")
TQ = ("tq-003", "tq")
TQ_AUDITOR = ("tq-005", "tq")
BRANCH_MANAGER = ("bm-1", "branch_manager")
DEPUTY_GM = ("dgm-1", "deputy_gm")
MODELS = ["QY25K", "QY50KA", "ZTC800", "STC250", "SAC2200", "XCT25"]
ENGINEERS = {
    "eng-sc-1": ("王工", "四川"),
    "eng-cq-1": ("李工", "重庆"),
    "eng-gd-1": ("陈工", "广东"),
    "eng-hb-1": ("刘工", "湖北"),
}
CLOCKED = ("intake", "dispatch", "parts")
START = "2026-11-23T09:00:00+08:00"
END = "2026-11-27T16:00:00+08:00"


class StaffTokens(httpx.Auth):
    """Each request carries an API token (`Authorization: Bearer …`) of the person its JSON body's
    `actor` names, else of `reader`; a person gets a token on first use, as `aftersales users add`
    gives one (shared/security/tokens.py, in the `auth` schema of the namespace)."""

    def __init__(self, database_url: str, names: Names, reader: tuple[str, str] = ("week-reader", "viewer")) -> None:
        from shared.security.tokens import TokenStore

        self.store = TokenStore(database_url, names.db_schema("auth"), max_size=1)
        self.reader = reader
        self.tokens: dict[tuple[str, str], str] = {}

    def token(self, person: str, role: str, attempts: int = 5) -> str:
        """`person`'s token, added on first use; retried while PostgreSQL has no connection to spare."""
        for attempt in range(1, attempts + 1):
            if (person, role) in self.tokens:
                break
            try:
                self.tokens[(person, role)] = self.store.open().add_user(person, person, role)
            except psycopg.OperationalError:
                if attempt == attempts:
                    raise
                time.sleep(attempt)
            finally:
                self.store.close()
        return self.tokens[(person, role)]

    def header(self, person: str | None = None, role: str | None = None) -> dict[str, str]:
        """The `Authorization` header of `person` (default: the reader), e.g. for a browser."""
        who = (person, role) if person and role else self.reader
        return {"Authorization": f"Bearer {self.token(*who)}"}

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        actor: Any = None
        if "json" in request.headers.get("content-type", ""):
            with contextlib.suppress(ValueError):
                actor = json.loads(request.content).get("actor")
        if isinstance(actor, dict) and actor.get("id") and actor.get("role"):
            request.headers.update(self.header(str(actor["id"]), str(actor["role"])))
        else:
            request.headers.update(self.header())
        yield request


class WeekError(RuntimeError):
    """A step of the week did not do what a person doing it would have seen."""


@dataclass
class Week:
    """What the simulated week left behind: complaint numbers by label, and the clock at the end."""

    complaints: dict[str, str] = field(default_factory=dict)
    generated: list[str] = field(default_factory=list)
    now: str = END


def call_message(call_id: str, received_at: str, agent: str, **overrides: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "schema": "ComplaintReceived/1",
        "call_id": call_id,
        "received_at": received_at,
        "agent_id": agent,
        "kind": "fault",
        "customer": {"name": "中铁十局物资公司", "phone": "13800000000"},
        "equipment": {"serial": "QY25K-2024-00871", "model": "QY25K", "acceptance_date": "2026-03-01"},
        "site": {"region": "四川", "distance_km": 120.0, "address": "成都市青白江区工地"},
        "description": "主臂伸缩油缸漏油, 无法作业",
    }
    for key, value in overrides.items():
        group, _, name = key.partition("__")
        if name:
            message[group][name] = value
        else:
            message[key] = value
    return message


def service_form(
    day: str, start: str, finish: str, signed: str, parts: list[dict[str, Any]], rating: int
) -> dict[str, Any]:
    return {
        "work": "更换主臂伸缩油缸密封件", "problem": "主臂伸缩油缸漏油", "outcome": "fixed",
        "started_at": f"{day}T{start}:00+08:00", "finished_at": f"{day}T{finish}:00+08:00",
        "signed_at": f"{day}T{signed}:00+08:00", "signed_by": "张经理", "rating": rating, "parts": parts,
    }  # fmt: skip


class WeekDriver:
    """One connection to NATS, PostgreSQL (only to read the services' clocks) and the HTTP API."""

    def __init__(
        self,
        nats_url: str,
        database_url: str,
        names: Names,
        base_url: str,
        timeout_s: float = 60,
        auth: httpx.Auth | None = None,
    ) -> None:
        """`auth` signs each request as the person it names (default: `StaffTokens`)."""
        self.nats_url = nats_url
        self.database_url = database_url
        self.names = names
        self.base_url = base_url
        self.timeout_s = timeout_s
        self.nc: NATS | None = None
        self.now: dt.datetime | None = None
        self.http = httpx.AsyncClient(base_url=base_url, timeout=15,
                                      auth=auth or StaffTokens(database_url, names))  # fmt: skip
        self.seq = 0

    async def __aenter__(self) -> WeekDriver:
        self.nc = await nats.connect(self.nats_url)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()
        if self.nc is not None:
            await self.nc.drain()

    async def until(self, check: Callable[[], Awaitable[bool]], what: str) -> None:
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            if await check():
                return
            await asyncio.sleep(0.1)
        raise WeekError(f"timed out after {self.timeout_s}s waiting for {what}")

    # ----------------------------------------------------------------- the clock, calls, surveys

    async def tick(self, iso: str) -> None:
        """Publish a tick and wait until every clocked service has taken it (a time already passed: nothing)."""
        assert self.nc is not None
        at = dt.datetime.fromisoformat(iso)
        if self.now is not None and at <= self.now:
            return
        self.now = at
        await self.nc.jetstream().publish(self.names.clock_tick, encode_tick(at))

        async def reached() -> bool:
            async with await psycopg.AsyncConnection.connect(self.database_url, autocommit=True) as conn:
                for service in CLOCKED:
                    schema = Identifier(self.names.db_schema(service))
                    query = SQL("SELECT now FROM {0}.clock WHERE id = 1").format(schema)
                    try:
                        row = await (await conn.execute(query)).fetchone()
                    except psycopg.errors.UndefinedTable:
                        return False
                    if row is None or row[0] < at:
                        return False
            return True

        await self.until(reached, f"every service's clock at {iso}")
        await asyncio.sleep(0.3)  # timers fired on the tick publish their events

    async def call(self, label: str, received_at: str, agent: str, **overrides: Any) -> str:
        assert self.nc is not None
        self.seq += 1
        call_id = f"CALL-{received_at[:10].replace('-', '')}-WEEK-{self.seq:03d}"
        message = call_message(call_id, received_at, agent, **overrides)
        body = json.dumps(message, ensure_ascii=False).encode()
        await self.nc.jetstream().publish(self.names.complaint_received, body)
        no = await self.complaint_no(call_id, label)
        await self.after(received_at)
        return no

    async def after(self, received_at: str) -> None:
        """Let the clock pass a call's receipt (5 minutes on), so that what staff do follows it."""
        await self.tick((dt.datetime.fromisoformat(received_at) + dt.timedelta(minutes=5)).isoformat())

    async def complaint_no(self, call_id: str, what: str = "") -> str:
        found: list[dict[str, Any]] = []

        async def projected() -> bool:
            nonlocal found
            found = (await self.http.get("/api/v1/complaints", params={"call_id": call_id})).json()
            return bool(found)

        await self.until(projected, f"the complaint of {call_id} {what}")
        return str(found[0]["complaint_no"])

    async def survey(self, complaint_no: str, rating: int, completed_at: str) -> None:
        assert self.nc is not None
        body = {"schema": "SurveyCompleted/1", "call_id": f"SURVEY-{complaint_no}", "complaint_no": complaint_no,
                "rating": rating, "completed_at": completed_at}  # fmt: skip
        await self.nc.jetstream().publish(self.names.survey_completed, json.dumps(body).encode())

    # ----------------------------------------------------------------- commands and views

    async def post(self, path: str, actor: tuple[str, str], **body: Any) -> dict[str, Any]:
        payload = {"actor": {"id": actor[0], "role": actor[1]}, **body}
        for _ in range(50):
            response = await self.http.post(path, json=payload)
            if response.status_code != 503:  # a service not ready yet (its clock, its consumer)
                break
            await asyncio.sleep(0.2)
        if response.status_code != 200:
            raise WeekError(f"POST {path} as {actor}: {response.status_code} {response.text}")
        reply: dict[str, Any] = response.json()
        return reply

    async def command(self, no: str, path: str, actor: tuple[str, str], **body: Any) -> dict[str, Any]:
        return await self.post(f"/api/v1/complaints/{no}/{path}", actor, **body)

    async def view(self, no: str) -> dict[str, Any]:
        response = await self.http.get(f"/api/v1/complaints/{no}")
        response.raise_for_status()
        view: dict[str, Any] = response.json()
        return view

    async def settled(self, no: str, predicate: Callable[[dict[str, Any]], Any], what: str) -> dict[str, Any]:
        view: dict[str, Any] = {}

        async def check() -> bool:
            nonlocal view
            view = await self.view(no)
            try:
                return bool(predicate(view))
            except (KeyError, TypeError, IndexError, StopIteration):
                return False

        await self.until(check, f"{no}: {what}")
        return view

    async def quiet(self, for_s: float = 1.0) -> None:
        """Wait until the read model's positions (GET /healthz) stop moving for `for_s` seconds."""
        last: Any = None
        still_since = time.monotonic()

        async def still() -> bool:
            nonlocal last, still_since
            positions = (await self.http.get("/healthz")).json().get("positions")
            if positions != last:
                last, still_since = positions, time.monotonic()
            return time.monotonic() - still_since >= for_s

        await self.until(still, "the read model to take every event")

    async def classified(self, no: str, cause: str, level: int, on_site: bool, solution: str | None) -> None:
        await self.command(no, "classify", TQ, cause=cause, level=level, on_site=on_site)
        if solution:
            await self.command(no, "solution", TQ, solution=solution)

    async def dispatched(self, no: str) -> dict[str, Any]:
        return await self.settled(no, lambda v: v["dispatch"]["status"] == "dispatched", "the dispatch")


async def run_week(
    nats_url: str, database_url: str, names: Names, base_url: str, auth: httpx.Auth | None = None
) -> Week:
    """Drive the week on a running system; see the module docstring for what it leaves behind."""
    week = Week()
    async with WeekDriver(nats_url, database_url, names, base_url, auth=auth) as d:
        await monday(d, week)
        await tuesday(d, week)
        await wednesday(d, week)
        await thursday(d, week)
        await friday(d, week)
        await d.quiet()
    return week


async def monday(d: WeekDriver, week: Week) -> None:
    await d.tick(START)
    for engineer_id, (name, region) in ENGINEERS.items():
        await d.post(f"/api/v1/engineers/{engineer_id}", TQ, name=name, region=region, skills=MODELS, load=0)
    c = week.complaints
    c["serviced"] = a = await d.call("serviced", "2026-11-23T09:15:00+08:00", "agent-017")
    await d.command(a, "relay", ("agent-017", "agent"))
    await d.command(a, "first-contact", ("agent-017", "agent"), channel="phone", agreed="今日下午上门",
                    visit_at="2026-11-23T14:00:00+08:00")  # fmt: skip
    await d.classified(a, "quality", 3, True, "更换主臂伸缩油缸密封件")
    await d.dispatched(a)
    c["not_arrived"] = b = await d.call("not_arrived", "2026-11-23T09:40:00+08:00", "agent-021",
                                        equipment__model="QY50KA", equipment__serial="QY50KA-2025-01234",
                                        equipment__acceptance_date="2026-05-10", site__region="重庆",
                                        site__distance_km=800.0, customer__name="中建三局机械租赁站",
                                        description="发动机无法启动")  # fmt: skip
    await d.command(b, "relay", ("agent-021", "agent"))
    await d.classified(b, "quality", 2, True, "检修燃油系统")
    await d.dispatched(b)
    c["consultation"] = cons = await d.call("consultation", "2026-11-23T10:05:00+08:00", "agent-008",
                                            kind="consultation", site__region="河北", customer__name="河北燕赵工程机械",
                                            description="咨询保养周期和机油型号")  # fmt: skip
    await d.command(cons, "relay", ("agent-008", "agent"))
    await d.command(cons, "answer", TQ, answer="每 500 小时保养一次, 使用 15W-40 柴油机油")
    c["relayed_late"] = late = await d.call("relayed_late", "2026-11-23T10:30:00+08:00", "agent-017",
                                            equipment__model="STC250", equipment__serial="STC250-2025-00077",
                                            equipment__acceptance_date="2026-02-01", site__distance_km=60.0,
                                            description="回转机构异响")  # fmt: skip

    await d.tick("2026-11-23T14:00:00+08:00")
    await d.command(a, "dispatch/arrival", ("eng-sc-1", "engineer"))
    await d.tick("2026-11-23T15:40:00+08:00")
    seal = {"material_code": "M-SEAL-25", "quantity": 2, "unit_price_fen": 12_550, "description": "密封件"}
    await d.command(a, "dispatch/service-form", ("eng-sc-1", "engineer"),
                    **service_form("2026-11-23", "14:10", "15:30", "15:35", [seal], 5))  # fmt: skip
    await d.command(a, "dispatch/return-approval", TQ)
    await d.tick("2026-11-23T16:00:00+08:00")
    await d.command(a, "dispatch/return", ("eng-sc-1", "engineer"))
    await d.tick("2026-11-23T16:30:00+08:00")  # relayed_late's relay was due 14:30
    view = await d.settled(late, lambda v: any(f["rule"] == "FIN-RELAY-LATE" for f in v["fines"]), "FIN-RELAY-LATE")
    await d.command(late, "relay", ("agent-017", "agent"))
    await d.classified(late, "non_quality", 4, False, "电话指导调整回转制动间隙")
    fine = next(f for f in view["fines"] if f["rule"] == "FIN-RELAY-LATE")
    await d.command(late, "fines/dispute", ("agent-017", "agent"), fine_id=fine["fine_id"],
                    reason="系统故障, 来电未弹屏")  # fmt: skip


async def tuesday(d: WeekDriver, week: Week) -> None:
    c = week.complaints
    await d.tick("2026-11-24T09:00:00+08:00")
    await d.command(c["serviced"], "dispatch/report", ("eng-sc-1", "engineer"), summary="已更换密封件, 设备恢复作业",
                    expense_claim_fen=35_000)  # fmt: skip
    await d.command(c["serviced"], "dispatch/audit/start", TQ)
    c["fee_pending"] = e = await d.call("fee_pending", "2026-11-24T09:20:00+08:00", "agent-030",
                                        equipment__model="ZTC800", equipment__serial="ZTC800-2021-00450",
                                        equipment__acceptance_date="2024-01-01", site__region="广东",
                                        site__distance_km=420.0, customer__name="广西柳工租赁",
                                        description="液压系统压力不足")  # fmt: skip
    await d.command(e, "relay", ("agent-030", "agent"))
    await d.classified(e, "non_quality", 3, True, "上门检修液压泵")
    await d.settled(e, lambda v: v["dispatch"]["status"] == "awaiting_fee_consent", "the fee quote")
    c["fee_refused"] = f = await d.call("fee_refused", "2026-11-24T10:00:00+08:00", "agent-017",
                                        equipment__acceptance_date="2024-06-01", site__distance_km=300.0,
                                        customer__name="成都路桥工程有限公司", description="支腿自动回缩")  # fmt: skip
    await d.command(f, "relay", ("agent-017", "agent"))
    await d.classified(f, "quality", 3, True, "更换支腿液压锁")
    await d.settled(f, lambda v: v["dispatch"]["status"] == "awaiting_fee_consent", "the fee quote")
    await d.command(f, "dispatch/fee-consent", ("agent-017", "agent"), accepted=False, fee_fen=180_000,
                    plan="上门更换支腿液压锁")  # fmt: skip
    c["left_site"] = g = await d.call("left_site", "2026-11-24T11:00:00+08:00", "agent-012",
                                      equipment__model="SAC2200", equipment__serial="SAC2200-2026-00031",
                                      equipment__acceptance_date="2026-04-01", site__region="湖北",
                                      site__distance_km=250.0, customer__name="湖北宏达起重设备公司",
                                      description="力矩限制器报警, 吊臂无法变幅")  # fmt: skip
    await d.command(g, "relay", ("agent-012", "agent"))
    await d.classified(g, "quality", 3, True, "更换力矩限制器传感器")
    await d.dispatched(g)
    await d.survey(c["serviced"], 5, "2026-11-24T10:30:00+08:00")
    await d.tick("2026-11-24T15:00:00+08:00")
    await d.command(g, "dispatch/arrival", ("eng-hb-1", "engineer"))
    await d.tick("2026-11-24T16:00:00+08:00")
    sensor = {"material_code": "M-SENSOR-SAC", "quantity": 1, "unit_price_fen": 86_000, "description": "力矩传感器"}
    await d.command(g, "dispatch/service-form", ("eng-hb-1", "engineer"),
                    **service_form("2026-11-24", "15:05", "15:50", "15:55", [sensor], 3))  # fmt: skip
    await d.tick("2026-11-24T16:30:00+08:00")
    await d.command(g, "dispatch/return", ("eng-hb-1", "engineer"))  # without tq's approval
    await d.settled(g, lambda v: v["dispatch"]["return"]["left_without_approval"] is True, "the unapproved return")
    await d.command(g, "fines", BRANCH_MANAGER, rule="FIN-RETURN-UNAPPROVED", amount_fen=20_000,
                    reason="未经技质部批准离开现场, 需二次上门")  # fmt: skip


async def generated_calls(d: WeekDriver, week: Week, start: str, count: int, seed: int, relay: int) -> None:
    """`count` calls from aftersales.simulate an hour apart; the first `relay` are relayed and classified."""
    stats = await simulate(d.nats_url, d.names, count=count, rate=None, duplicate_ratio=0.0, bad_ratio=0.0,
                           seed=seed, start=dt.datetime.fromisoformat(start).astimezone(CHINA),
                           spacing=dt.timedelta(minutes=50))  # fmt: skip
    for n, call_id in enumerate(stats.call_ids):
        no = await d.complaint_no(call_id)
        week.generated.append(no)
        if n >= relay:
            continue
        view = await d.view(no)
        await d.after(view["received_at"])
        await d.command(no, "relay", (view["agent_id"] or AGENTS[0], "agent"))
        if view["kind"] == "consultation":
            await d.command(no, "answer", TQ, answer="已电话答复")
        else:
            await d.classified(no, "quality" if n % 3 else "non_quality", 3 + n % 2, False, "电话指导排除故障")


async def wednesday(d: WeekDriver, week: Week) -> None:
    c = week.complaints
    await d.tick("2026-11-25T09:00:00+08:00")
    await d.command(c["serviced"], "dispatch/audit", TQ, quality_confirmed=True, rating_confirmed=True,
                    cost_approved_fen=35_000)  # fmt: skip
    await d.command(c["left_site"], "dispatch/report", ("eng-hb-1", "engineer"), summary="已更换传感器",
                    expense_claim_fen=52_000)  # fmt: skip
    await d.command(c["left_site"], "dispatch/audit/start", TQ_AUDITOR)
    order = (await d.view(c["serviced"]))["dispatch"]["dispatch_order_no"]
    await d.post(f"/api/v1/complaints/{c['serviced']}/parts", ("eng-sc-1", "engineer"), dispatch_order_no=order,
                 equipment_no="QY25K-2024-00871", material_code="M-FILTER-25", quantity=1, unit_price_fen=4_800,
                 responsible_engineer="eng-sc-1", region="四川", fault="滤芯堵塞", return_to_hq=False,
                 completed_on="2026-11-17", description="液压滤芯")  # fmt: skip
    await generated_calls(d, week, "2026-11-25T09:30:00+08:00", 6, seed=11, relay=4)
    await d.tick("2026-11-25T10:00:00+08:00")  # not_arrived: DSP-ARRIVE was due 09:40
    await d.settled(c["not_arrived"], lambda v: v["escalations"], "the DSP-ARRIVE escalation")
    await d.tick("2026-11-25T16:00:00+08:00")


async def thursday(d: WeekDriver, week: Week) -> None:
    c = week.complaints
    await d.tick("2026-11-26T09:00:00+08:00")
    c["unclassified"] = h = await d.call("unclassified", "2026-11-26T09:30:00+08:00", "agent-040",
                                         equipment__model="XCT25", equipment__serial="XCT25-2026-00310",
                                         equipment__acceptance_date="2026-07-01", site__region="陕西",
                                         site__distance_km=500.0, customer__name="吉林长白物流",
                                         description="仪表显示故障代码 E017")  # fmt: skip
    await d.command(h, "relay", ("agent-040", "agent"))
    part = (await d.settled(c["left_site"], lambda v: v["parts"], "the recorded part"))["parts"][0]
    await d.post(f"/api/v1/parts/{part['part_id']}/hand-in", ("eng-hb-1", "engineer"))
    await d.survey(c["left_site"], 3, "2026-11-26T10:00:00+08:00")
    await generated_calls(d, week, "2026-11-26T10:00:00+08:00", 6, seed=12, relay=3)
    await d.tick("2026-11-26T11:00:00+08:00")  # the branch manager did not acknowledge: on to management
    await d.tick("2026-11-26T16:00:00+08:00")


async def friday(d: WeekDriver, week: Week) -> None:
    c = week.complaints
    await d.tick("2026-11-27T09:00:00+08:00")
    c["no_solution"] = i = await d.call("no_solution", "2026-11-27T10:00:00+08:00", "agent-017",
                                        site__region="江苏", site__distance_km=150.0,
                                        equipment__acceptance_date="2026-01-10", customer__name="新疆天山建材集团",
                                        description="发动机无法启动")  # fmt: skip
    await d.command(i, "relay", ("agent-017", "agent"))
    await d.classified(i, "quality", 3, False, None)
    c["unrelayed"] = await d.call("unrelayed", "2026-11-27T14:00:00+08:00", "agent-030", site__region="浙江",
                                  customer__name="云南滇中建设", description="液压系统压力不足")  # fmt: skip
    await d.tick(END)
    await d.settled(c["unclassified"], lambda v: any(x["rule"] == "INT-REPLY-8WH" and x["breached"]
                                                     for x in v["deadlines"]), "the missed reply")  # fmt: skip
