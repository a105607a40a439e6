"""Issue 13, intake: rules that misfired (docs/rules.md §1, §4, §9), against real NATS JetStream and
PostgreSQL, driven as staff do: telephony calls in, commands over HTTP, the read API out.

- INT-CLASSIFY: a classification is recorded with its cause, level and on-site need.
- INT-LEVELS: a first response is a recorded contact with the customer (§9); classification alone is
  none. A missed first response goes to the branch manager; a level-1 fault goes to management at
  once, at classification, and is not escalated again when its first response is missed (§4).
- FIN-RECORD-INCOMPLETE: 50 per record, at most once, only for a record that was incomplete and
  caused extra cost (§4, §9).
- A fine whose person is not known is unattributed until the branch manager attributes it; the
  fines ledger never counts a null person (§9). A call without `agent_id` is incomplete (INT-REQUIRED).
- Every decision recorded under `intake-2026.1` still replays (`aftersales replay`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from aftersales.replay import History
from services.dispatch.main import build as build_dispatch
from services.intake import policy
from services.intake.application import InboundCall, IntakeApplication
from services.reporting.api import create_api
from services.reporting.main import build_store
from shared.events import commands as cmd
from shared.events.telephony import ComplaintReceivedV1, decode_telephony
from shared.runtime.clock import encode_tick
from shared.runtime.service import ServiceRuntime
from shared.runtime.settings import Settings
from shared.runtime.store import build_application
from tests.api_support import serving, staff_auth
from tests.integration.conftest import System
from tests.support import body, call, wait_until

pytestmark = pytest.mark.integration

CN = dt.timezone(dt.timedelta(hours=8))
AGENT = {"id": "agent-017", "role": "agent"}
TQ = {"id": "tq-003", "role": "tq"}
ENGINEER = {"id": "eng-42", "role": "engineer"}
BRANCH_MANAGER = {"id": "bm-01", "role": "branch_manager"}


@dataclasses.dataclass
class Desk:
    """The staff's view of the running system: HTTP commands and reads, and the external clock."""

    system: System
    http: httpx.AsyncClient
    clocks: list[ServiceRuntime]

    async def tick(self, iso: str) -> None:
        now = dt.datetime.fromisoformat(iso)
        await self.system.bus.js.publish(self.system.bus.names.clock_tick, encode_tick(now))

        async def seen() -> bool:
            return all((r.ports.clock.known_now() or now - dt.timedelta(1)) >= now for r in self.clocks)

        await wait_until(seen, what=f"the services at {iso}")

    async def register(self, message: dict[str, Any]) -> str:
        await self.system.bus.publish_call(message)
        found: list[dict[str, Any]] = []

        async def visible() -> bool:
            nonlocal found
            found = (await self.http.get("/api/v1/complaints", params={"call_id": message["call_id"]})).json()
            return bool(found)

        await wait_until(visible, what=f"complaint for {message['call_id']}")
        complaint_no: str = found[0]["complaint_no"]
        return complaint_no

    async def command(self, complaint_no: str, path: str, actor: dict[str, str], **fields: Any) -> httpx.Response:
        return await self.http.post(f"/api/v1/complaints/{complaint_no}/{path}", json={"actor": actor, **fields})

    async def complaint(self, complaint_no: str) -> dict[str, Any]:
        response = await self.http.get(f"/api/v1/complaints/{complaint_no}")
        response.raise_for_status()
        view: dict[str, Any] = response.json()
        return view

    async def settled(self, complaint_no: str, predicate: Any, what: str) -> dict[str, Any]:
        view: dict[str, Any] = {}

        async def check() -> bool:
            nonlocal view
            view = await self.complaint(complaint_no)
            return bool(predicate(view))

        await wait_until(check, what=what)
        return view


@pytest.fixture
async def desk(system: System, settings: Settings) -> AsyncIterator[Desk]:
    dispatch = build_dispatch(settings)  # ESC-CHAIN passes on escalations nobody acknowledged
    await dispatch.start()
    api = create_api(lambda: build_store(settings), settings.nats_url, settings.names)
    try:
        async with (
            serving(api) as base,
            httpx.AsyncClient(base_url=base, timeout=30, auth=staff_auth(settings)) as http,
        ):
            yield Desk(system, http, [system.intake, dispatch])
    finally:
        await dispatch.stop()


def first_response(view: dict[str, Any]) -> dict[str, Any]:
    deadlines: list[dict[str, Any]] = [d for d in view["deadlines"] if d["rule"] == "INT-LEVELS"]
    [deadline] = deadlines
    return deadline


def escalations(view: dict[str, Any], rule: str) -> list[tuple[str, str]]:
    return [(e["rule"], e["to"]) for e in view["escalations"] if e["rule"] == rule]


# ------------------------------------------------------------------------------------- INT-CLASSIFY


async def test_int_classify_records_cause_level_and_on_site(desk: Desk) -> None:
    await desk.tick("2027-03-02T09:00:00+08:00")
    no = await desk.register(call("CALL-I13-CLASSIFY", received_at="2027-03-02T08:50:00+08:00"))
    refused = await desk.command(no, "classify", AGENT, cause="quality", level=2, on_site=True)
    assert refused.status_code == 403  # 000 §5: the technical-quality department classifies
    out_of_scale = await desk.command(no, "classify", TQ, cause="quality", level=5, on_site=True)
    assert out_of_scale.status_code == 422  # four levels (000 篇二)
    classified = await desk.command(no, "classify", TQ, cause="non_quality", level=3, on_site=False)
    assert classified.status_code == 200, classified.text
    assert "FaultClassified" in classified.json()["events"]
    view = await desk.settled(no, lambda v: v["level"] is not None, "the classification")
    assert (view["cause"], view["level"], view["on_site"], view["status"]) == ("non_quality", 3, False, "classified")
    # Level 3: first response within 24 calendar hours of receipt (INT-LEVELS).
    assert first_response(view)["due_at"] == "2027-03-03T08:50:00+08:00"


# --------------------------------------------------------------------------------------- INT-LEVELS


async def test_int_levels_a_timely_first_contact_meets_the_first_response_and_nothing_is_escalated(
    desk: Desk,
) -> None:
    await desk.tick("2027-03-02T09:00:00+08:00")
    no = await desk.register(call("CALL-I13-CONTACT", received_at="2027-03-02T09:00:00+08:00"))
    assert (await desk.command(no, "classify", TQ, cause="quality", level=2, on_site=True)).status_code == 200
    await desk.tick("2027-03-02T10:30:00+08:00")
    naive = await desk.command(no, "first-contact", AGENT, channel="phone", agreed="x", visit_at="2027-03-03T09:00:00")
    assert naive.status_code == 422  # a visit time without its UTC offset is ambiguous
    past = await desk.command(no, "first-contact", AGENT, channel="phone", agreed="x",
                              visit_at="2027-03-01T09:00:00+08:00")  # fmt: skip
    assert past.status_code == 409  # a visit agreed for a time already gone
    # 003: contact the customer and agree the time of the visit. The engineer may be known only to dispatch.
    contact = await desk.command(no, "first-contact", ENGINEER, channel="phone", agreed="明早九点到现场",
                                 visit_at="2027-03-03T09:00:00+08:00")  # fmt: skip
    assert contact.status_code == 200, contact.text
    assert (await desk.command(no, "first-contact", AGENT, channel="sms", agreed="again")).status_code == 409
    assert (await desk.command(no, "first-contact", BRANCH_MANAGER, channel="phone",
                                agreed="x")).status_code == 403  # fmt: skip

    await desk.tick("2027-03-02T13:30:00+08:00")  # the level-2 due time (13:00) has passed
    await desk.tick("2027-03-04T09:00:00+08:00")
    view = await desk.settled(no, lambda v: first_response(v)["met_at"], "the first response met")
    deadline = first_response(view)
    assert deadline["due_at"] == "2027-03-02T13:00:00+08:00"
    assert deadline["met_at"] == "2027-03-02T10:30:00+08:00"
    assert deadline["breached"] is False
    assert escalations(view, "INT-LEVELS") == []
    assert view["first_contact"] == {
        "by": "eng-42", "role": "engineer", "channel": "phone", "agreed": "明早九点到现场",
        "visit_at": "2027-03-03T09:00:00+08:00", "contacted_at": "2027-03-02T10:30:00+08:00",
    }  # fmt: skip


async def test_int_levels_classification_and_a_solution_are_no_first_response(desk: Desk) -> None:
    await desk.tick("2027-03-02T09:00:00+08:00")
    no = await desk.register(call("CALL-I13-NOCONTACT", received_at="2027-03-02T09:00:00+08:00"))
    assert (await desk.command(no, "classify", TQ, cause="quality", level=2, on_site=True)).status_code == 200
    assert (await desk.command(no, "solution", TQ, solution="更换密封件")).status_code == 200
    await desk.tick("2027-03-02T13:01:00+08:00")  # level 2: due 13:00
    view = await desk.settled(no, lambda v: escalations(v, "INT-LEVELS"), "the missed first response escalated")
    assert first_response(view)["breached"] is True
    assert first_response(view)["met_at"] is None
    assert escalations(view, "INT-LEVELS") == [("INT-LEVELS", "branch_manager")]  # §4, once
    await desk.tick("2027-03-02T15:00:00+08:00")
    assert escalations(await desk.complaint(no), "INT-LEVELS") == [("INT-LEVELS", "branch_manager")]


async def test_int_levels_a_level_1_fault_goes_to_management_once(desk: Desk) -> None:
    await desk.tick("2027-03-02T09:00:00+08:00")
    no = await desk.register(call("CALL-I13-LEVEL1", received_at="2027-03-02T09:00:00+08:00"))
    assert (await desk.command(no, "classify", TQ, cause="quality", level=1, on_site=True)).status_code == 200
    view = await desk.settled(no, lambda v: v["escalations"], "the level-1 escalation")
    assert escalations(view, "INT-LEVELS") == [("INT-LEVELS", "management")]  # at once, at classification

    await desk.tick("2027-03-02T11:01:00+08:00")  # level 1: first response due 11:00, missed
    view = await desk.settled(no, lambda v: first_response(v)["breached"], "the missed first response")
    await desk.tick("2027-03-03T12:00:00+08:00")  # a day on: ESC-CHAIN would pass on an unread escalation
    await desk.tick("2027-03-04T12:00:00+08:00")
    view = await desk.complaint(no)
    assert first_response(view)["breached"] is True
    assert escalations(view, "INT-LEVELS") == [("INT-LEVELS", "management")]


async def test_int_levels_a_contact_before_classification_meets_the_first_response(app: IntakeApplication) -> None:
    no = register_direct(app, "CALL-I13-EARLY", "2027-03-02T09:00:00+08:00")
    agent, tq = cmd.Actor("agent-017", "agent"), cmd.Actor("tq-003", "tq")
    app.execute(cmd.RecordFirstContact(complaint_no=no, actor=agent, channel="phone", agreed="已告知处理流程"),
                at(2027, 3, 2, 9, 20), "test")  # fmt: skip
    app.execute(cmd.Relay(complaint_no=no, actor=agent), at(2027, 3, 2, 9, 25), "test")
    # Classified after the level-2 due time (13:00): the contact of 09:20 was the first response.
    app.execute(cmd.Classify(complaint_no=no, actor=tq, cause="quality", level=2, on_site=True),
                at(2027, 3, 2, 14, 0), "test")  # fmt: skip
    app.execute(cmd.DecideSolution(complaint_no=no, actor=tq, solution="更换密封件"), at(2027, 3, 2, 14, 10), "test")
    deadline = app.complaint_by_number(no).deadlines["INT-LEVELS"]
    assert (deadline.due_at, deadline.met_at, deadline.breached_at) == (
        "2027-03-02T13:00:00+08:00", "2027-03-02T09:20:00+08:00", None,
    )  # fmt: skip
    app.fire_due(at(2027, 3, 3, 9, 0))
    assert app.complaint_by_number(no).escalations == []


# ---------------------------------------------------------------------------- FIN-RECORD-INCOMPLETE


async def test_fin_record_incomplete_is_levied_once_and_only_on_an_incomplete_record(desk: Desk) -> None:
    await desk.tick("2027-03-02T09:00:00+08:00")
    incomplete = call("CALL-I13-NOPHONE", received_at="2027-03-02T09:00:00+08:00")
    incomplete["customer"] = {"name": "中铁十局物资公司", "phone": None}
    no = await desk.register(incomplete)
    complete_no = await desk.register(call("CALL-I13-COMPLETE", received_at="2027-03-02T09:00:00+08:00"))
    assert (await desk.complaint(no))["missing_fields"] == ["customer.phone"]

    fine = dict(reason="电话缺失, 工程师白跑一趟", extra_cost_fen=80_000)
    first = await desk.command(no, "fines/record-incomplete", BRANCH_MANAGER, **fine)
    assert first.status_code == 200, first.text
    second = await desk.command(no, "fines/record-incomplete", BRANCH_MANAGER, **fine)
    assert second.status_code == 409
    assert "at most once" in second.json()["error"]
    on_complete = await desk.command(complete_no, "fines/record-incomplete", BRANCH_MANAGER, **fine)
    assert on_complete.status_code == 409
    assert "complete" in on_complete.json()["error"]
    no_cost = await desk.command(no, "fines/record-incomplete", BRANCH_MANAGER, reason="x", extra_cost_fen=0)
    assert no_cost.status_code == 422

    view = await desk.settled(no, lambda v: v["fines"], "the fine")
    assert [(f["rule"], f["amount_fen"], f["person"]) for f in view["fines"]] == [
        ("FIN-RECORD-INCOMPLETE", 5_000, "agent-017")
    ]
    assert (await desk.complaint(complete_no))["fines"] == []


# ------------------------------------------------------------------------------- unattributed fines


async def test_a_fine_with_no_known_receiver_is_unattributed_until_the_branch_manager_attributes_it(
    desk: Desk,
) -> None:
    await desk.tick("2027-03-02T09:00:00+08:00")
    no = await desk.register(call("CALL-I13-NOAGENT", received_at="2027-03-02T09:00:00+08:00", agent_id=None))
    view = await desk.complaint(no)
    assert view["record_incomplete"] is True  # INT-REQUIRED, docs/rules.md §9
    assert view["missing_fields"] == ["agent_id"]
    charged = await desk.register(call("CALL-I13-AGENT", received_at="2027-03-02T09:00:00+08:00"))
    # The receiver who will carry FIN-RELAY-LATE cannot be rewritten by completing the record.
    moved = await desk.command(charged, "complete", AGENT, fields={"agent_id": "agent-099"})
    assert moved.status_code == 409, moved.text
    assert "receiver is already recorded" in moved.json()["error"]

    await desk.tick("2027-03-02T13:01:00+08:00")  # INT-RELAY-4WH missed by both: FIN-RELAY-LATE
    view = await desk.settled(no, lambda v: v["fines"], "the relay fine")
    await desk.settled(charged, lambda v: v["fines"], "the other relay fine")
    [fine] = view["fines"]
    assert (fine["rule"], fine["person"], fine["unattributed"]) == ("FIN-RELAY-LATE", None, True)

    ledger = (await desk.http.get("/api/v1/fines")).json()
    assert all(row["person"] is not None for row in ledger["by_person"])
    assert [(r["person"], r["levied_fen"]) for r in ledger["by_person"]] == [("agent-017", 5_000)]
    assert [(e["fine_id"], e["amount_fen"]) for e in ledger["unattributed"]] == [(fine["fine_id"], 5_000)]
    csv_rows = (await desk.http.get("/api/v1/fines", params={"by": "person"},
                                    headers={"accept": "text/csv"})).text.splitlines()  # fmt: skip
    assert len(csv_rows) == 2  # the header and one person: no row for a null person
    assert csv_rows[1].startswith("agent-017,")

    attribution = dict(fine_id=fine["fine_id"], person="agent-023", role="agent", reason="值班表: 当班受理人")
    assert (await desk.command(no, "fines/attribute", AGENT, **attribution)).status_code == 403
    attributed = await desk.command(no, "fines/attribute", BRANCH_MANAGER, **attribution)
    assert attributed.status_code == 200, attributed.text
    assert attributed.json()["events"] == ["FineAttributed"]
    assert (await desk.command(no, "fines/attribute", BRANCH_MANAGER, **attribution)).status_code == 409
    unknown = await desk.command(no, "fines/attribute", BRANCH_MANAGER, **{**attribution, "fine_id": "nope"})
    assert unknown.status_code == 409

    view = await desk.settled(no, lambda v: not v["fines"][0]["unattributed"], "the attribution")
    fine = view["fines"][0]
    assert (fine["person"], fine["role"], fine["department"], fine["attributed_by"]) == (
        "agent-023", "agent", "customer_service", "bm-01",
    )  # fmt: skip
    assert fine["levied_at"] == "2027-03-02T13:01:00+08:00"  # the fine itself is unchanged
    ledger = (await desk.http.get("/api/v1/fines")).json()
    assert ledger["unattributed"] == []
    assert [(r["person"], r["levied_fen"]) for r in ledger["by_person"]] == [("agent-017", 5_000),
                                                                              ("agent-023", 5_000)]  # fmt: skip


# -------------------------------------------------------------------------------------------- replay


@pytest.fixture
def app(settings: Settings) -> Iterator[IntakeApplication]:
    application = build_application(IntakeApplication, settings.database_url, settings.names.db_schema("intake"))
    yield application
    application.close()


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=CN)


def register_direct(app: IntakeApplication, call_id: str, received_at: str, **overrides: Any) -> str:
    decoded = decode_telephony(body(call(call_id, received_at=received_at, **overrides)))
    assert isinstance(decoded, ComplaintReceivedV1)
    (complaint_no,) = app.register([InboundCall(decoded, f"test:{call_id}")]).registered
    return complaint_no


def test_decisions_under_intake_2026_1_still_replay_after_2026_2(app: IntakeApplication, settings: Settings) -> None:
    bm, tq = cmd.Actor("bm-01", "branch_manager"), cmd.Actor("tq-003", "tq")
    app.policy = policy.POLICIES["intake-2026.1"]  # what ran before issue 13
    old = register_direct(app, "CALL-I13-OLD", "2026-11-23T09:00:00+08:00", agent_id=None)
    app.execute(cmd.Classify(complaint_no=old, actor=tq, cause="quality", level=1, on_site=True),
                at(2026, 11, 23, 9, 30), "test")  # fmt: skip
    for _ in range(2):  # what intake-2026.1 allowed
        app.execute(cmd.FineRecordIncomplete(complaint_no=old, actor=bm, reason="r", extra_cost_fen=1),
                    at(2026, 11, 23, 10, 0), "test")  # fmt: skip
    app.fire_due(at(2026, 11, 23, 14, 0))  # relay and first response missed

    app.policy = policy.current_policy()
    new = register_direct(app, "CALL-I13-NEW", "2026-11-24T09:00:00+08:00", agent_id=None,
                          customer={"name": "甲", "phone": None})  # fmt: skip
    app.execute(cmd.Classify(complaint_no=new, actor=tq, cause="quality", level=1, on_site=True),
                at(2026, 11, 24, 9, 30), "test")  # fmt: skip
    app.execute(cmd.FineRecordIncomplete(complaint_no=new, actor=bm, reason="r", extra_cost_fen=1),
                at(2026, 11, 24, 10, 0), "test")  # fmt: skip
    app.fire_due(at(2026, 11, 24, 14, 0))

    old_complaint, new_complaint = app.complaint_by_number(old), app.complaint_by_number(new)
    assert len(old_complaint.fines) == 3  # two FIN-RECORD-INCOMPLETE and FIN-RELAY-LATE, as then
    assert len(new_complaint.fines) == 2  # one of each
    # intake-2026.1, as then: level 1 → management, and the missed relay, reply (due 23 Nov 17:00) and
    # first response each → branch manager. intake-2026.2: level 1 → management, missed relay → branch manager.
    assert len(old_complaint.escalations) == 4
    assert len(new_complaint.escalations) == 2

    history = History(settings)
    try:
        steps = list(history.steps())
    finally:
        history.close()
    checks = [check for step in steps for check in step.checks]
    changed = {"INT-LEVELS", "FIN-RECORD-INCOMPLETE", "FIN-RELAY-LATE"}
    for version in ("intake-2026.1", "intake-2026.2"):
        assert changed <= {c.rule for c in checks if c.policy_version == version}, version
    not_reproduced = [(c.rule, c.policy_version, c.recorded, c.recomputed) for c in checks if not c.reproduced]
    assert not_reproduced == []
