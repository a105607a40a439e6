"""Issue 13 in the parts store (real PostgreSQL): PRT-RECORD enforced for parts from dispatch, split scrap
lots re-levelled, both as policy `parts-2026.2`; what was decided under `parts-2026.1` still replays.

Written from 004 附件三 (every part's line names its 设备编号 and 区域) and 004 废旧物资 1.5–1.8 (≤ 20 000
site, 20 000–50 000 department, > 50 000 leadership; same-spec lots not split; "申请处理尚未批准或已批准未
处理的物资" are still under the rule), docs/rules.md §5.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from aftersales.replay import History
from services.parts import policy
from services.parts.application import Forbidden, PartsApplication
from services.parts.domain import CommandRejected
from shared.events import commands as cmd
from shared.events.dispatch_events import PartsReplaced, ReplacedPart
from shared.events.envelope import Envelope, event_id_for
from shared.runtime.settings import Settings
from shared.runtime.store import build_application
from tests.support import wire_event

pytestmark = pytest.mark.integration

CN = dt.timezone(dt.timedelta(hours=8))
KEEPER = cmd.Actor(id="wk-1", role="warehouse_keeper")
OFFICER = cmd.Actor(id="opo-1", role="old_parts_officer")
BRANCH = cmd.Actor(id="bm-1", role="branch_manager")
ENGINEER = cmd.Actor(id="eng-9", role="engineer")
QUOTES = [cmd.Quote(buyer=f"回收站{i}", contact=f"1390000000{i}", price_fen=760_000) for i in range(3)]


@pytest.fixture
def app(settings: Settings) -> Iterator[PartsApplication]:
    application = build_application(PartsApplication, settings.database_url, settings.names.db_schema("parts"))
    yield application
    application.close()


def at(day: str, hour: int = 10) -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{hour:02d}:00:00+08:00")


class Dispatch:
    """dispatch's PartsReplaced as the upstream consumer receives it (envelopes in position order)."""

    def __init__(self, app: PartsApplication) -> None:
        self.app, self.position = app, 0

    def replaced(self, part_id: str, completed_on: str, **overrides: Any) -> None:
        fields: dict[str, Any] = {
            "part_id": part_id, "dispatch_order_no": f"PG-{part_id}", "equipment_no": "QY25K-2024-00871",
            "material_code": "M-BOOM-1", "description": "臂架", "quantity": 1, "unit_price_fen": 3_000_000,
            "total_fen": 3_000_000, "responsible_engineer": "eng-9", "region": "四川", "fault": "臂架开裂",
            "return_to_hq": False, "completed_on": dt.date.fromisoformat(completed_on),
        }  # fmt: skip
        fields.update(overrides)
        completed_at = at(completed_on, 16)
        struct = wire_event(PartsReplaced, complaint_no="TS-2026-00000013", dispatch_id=f"D-{part_id}",
                            parts=[ReplacedPart(**fields)], completed_at=completed_at)  # fmt: skip
        self.position += 1
        aggregate_id = uuid.uuid4()
        envelope = Envelope(
            event_id=event_id_for(aggregate_id, 1), type="PartsReplaced", version=1, occurred_at=completed_at,
            service="dispatch", position=self.position, aggregate_id=aggregate_id, aggregate_version=1,
            correlation_id=struct.complaint_no, causation_id="test:dispatch", data=struct.wire_data(),
        )  # fmt: skip
        assert self.app.on_upstream("dispatch", [envelope]) == 1


def run(app: PartsApplication, command: cmd.AnyPartsCommand, now: dt.datetime) -> list[str]:
    return app.execute(command, now, f"test:{type(command).__name__}")[1]


def to_sell(app: PartsApplication, part_id: str, now: dt.datetime) -> None:
    decide = cmd.DecideDisposition(actor=OFFICER, part_id=part_id, disposition="sell_local", reuse_value_fen=100_000,
                                   return_freight_fen=400_000, sale_value_fen=850_000)  # fmt: skip
    run(app, decide, now)


def sell(app: PartsApplication, part_id: str, now: dt.datetime, **sale: Any) -> list[str]:
    report = cmd.ReportSale(actor=KEEPER, part_id=part_id, buyer="回收站0", price_fen=765_000, weight_kg=5_000,
                            quotes=QUOTES, reference_class="structural", **sale)  # fmt: skip
    return run(app, report, now)


def test_a_part_from_dispatch_without_region_is_not_sold_until_its_record_is_completed(
    app: PartsApplication, settings: Settings
) -> None:
    dispatch = Dispatch(app)
    # parts-2026.1: an empty region went unnoticed; the sale went through at the plain 85 % floor.
    app.policy = policy.POLICIES["parts-2026.1"]
    dispatch.replaced("OLD-NOREGION", "2026-12-01", region="", equipment_no="")
    assert app.part("OLD-NOREGION").record_missing == []
    to_sell(app, "OLD-NOREGION", at("2026-12-02"))
    sell(app, "OLD-NOREGION", at("2026-12-02"), reason="切割费高")
    run(app, cmd.VerifySale(actor=OFFICER, part_id="OLD-NOREGION"), at("2026-12-02"))
    run(app, cmd.ApproveSale(actor=cmd.Actor(id="gm-1", role="gm"), part_id="OLD-NOREGION"), at("2026-12-02"))
    assert run(app, cmd.RecordSale(actor=OFFICER, part_id="OLD-NOREGION"), at("2026-12-02")) == ["PartSold"]

    # parts-2026.2: the same part is flagged incomplete, naming the missing fields.
    app.policy = policy.POLICIES["parts-2026.2"]
    dispatch.replaced("NOREGION", "2027-12-30", region="", equipment_no=" ")
    part = app.part("NOREGION")
    assert part.record_missing == ["equipment_no", "region"]
    to_sell(app, "NOREGION", at("2028-01-02"))

    # No sale (report_sale, with or without a remote reduction) while the region is unknown: 409 with the reason.
    for sale in ({}, {"remote_reduction": Decimal("0.10")}):
        with pytest.raises(CommandRejected, match="lacks the region"):
            sell(app, "NOREGION", at("2028-01-02"), **sale)
    assert app.part("NOREGION").sale is None

    # Who completes it: the regional warehouse keeper or the old-parts officer, not the engineer.
    with pytest.raises(Forbidden):
        run(app, cmd.CompletePartRecord(actor=ENGINEER, part_id="NOREGION", region="四川"), at("2028-01-02"))
    assert run(app, cmd.CompletePartRecord(actor=KEEPER, part_id="NOREGION", equipment_no="QY25K-2024-00871"),
               at("2028-01-02")) == ["PartRecordCompleted"]  # fmt: skip
    assert app.part("NOREGION").record_missing == ["region"]
    with pytest.raises(CommandRejected, match="lacks the region"):
        sell(app, "NOREGION", at("2028-01-02"))
    with pytest.raises(CommandRejected, match="recorded already"):
        run(app, cmd.CompletePartRecord(actor=OFFICER, part_id="NOREGION", equipment_no="X"), at("2028-01-02"))
    run(app, cmd.CompletePartRecord(actor=OFFICER, part_id="NOREGION", region="四川"), at("2028-01-02"))
    assert app.part("NOREGION").record_missing == []

    # Now 四川 is known to be remote (PRT-REMOTE): floor = 10 000 × 0.85 × (1 − 0.10) = 7 650 yuan, so 7 650 sells
    # at the floor without the GM.
    assert sell(app, "NOREGION", at("2028-01-03"), remote_reduction=Decimal("0.10")) == ["SaleReported"]
    reported = app.part("NOREGION").sale
    assert reported is not None
    assert (reported.floor_fen, reported.below_floor, reported.floor.outputs["remote"]["remote"]) == (
        765_000,
        False,
        True,
    )
    assert run(app, cmd.RecordSale(actor=OFFICER, part_id="NOREGION"), at("2028-01-03")) == ["PartSold"]

    replayed = replay(settings)
    sold = {s.envelope.policy_version: s.envelope for s in replayed if s.envelope.type == "PartSold"}
    assert sold.keys() == {"parts-2026.1", "parts-2026.2"}
    assert sold["parts-2026.1"].data["outputs"]["remote"]["remote"] is False  # what 2026.1 decided, kept
    assert sold["parts-2026.2"].data["outputs"]["sale_blocked_by"] == []
    types = [s.envelope.type for s in replayed]
    assert (types.count("PartRecordIncomplete"), types.count("PartRecordCompleted")) == (1, 2)
    v1 = sold["parts-2026.1"]
    assert policy.evaluate(v1.rule or "", "parts-2026.2", v1.inputs or {}) != v1.data["outputs"]


def test_a_split_lot_approved_at_site_needs_the_department_once_the_second_half_arrives(
    app: PartsApplication, settings: Settings
) -> None:
    dispatch = Dispatch(app)

    def destroy(part_id: str, now: dt.datetime) -> list[str]:
        run(app, cmd.DecideDisposition(actor=OFFICER, part_id=part_id, disposition="destroy_local"), now)
        return run(app, cmd.RequestDisposal(actor=KEEPER, part_id=part_id), now)

    # parts-2026.1: 15 000 approved at site, then its other half (15 000) — the first was carried out at site level.
    app.policy = policy.POLICIES["parts-2026.1"]
    for part_id in ("V1-A", "V1-B"):
        dispatch.replaced(part_id, "2026-12-01", material_code="M-FRAME-OLD", unit_price_fen=1_500_000,
                          total_fen=1_500_000)  # fmt: skip
    destroy("V1-A", at("2026-12-02"))
    run(app, cmd.ApproveDisposal(actor=BRANCH, part_id="V1-A"), at("2026-12-02"))
    destroy("V1-B", at("2026-12-03"))
    assert run(app, cmd.RecordDisposal(actor=KEEPER, part_id="V1-A"), at("2026-12-04")) == ["PartDisposed"]

    # parts-2026.2, across the turn of the year: A (15 000) approved at site on 2027-12-28; B (15 000) of the same
    # spec and region on 2028-01-10, within 30 days: 30 000 together → the department.
    app.policy = policy.POLICIES["parts-2026.2"]
    for part_id in ("A", "B", "C"):
        dispatch.replaced(part_id, "2027-12-20", material_code="M-FRAME", unit_price_fen=1_500_000,
                          total_fen=1_500_000)  # fmt: skip
    assert destroy("A", at("2027-12-28")) == ["DisposalRequested", "ScrapLedgerOpened", "ScrapLotAdded"]
    assert run(app, cmd.ApproveDisposal(actor=BRANCH, part_id="A"), at("2027-12-28")) == ["DisposalApproved"]
    disposal = app.part("A").disposal
    assert disposal is not None
    assert disposal.level == "site"

    assert destroy("B", at("2028-01-10")) == ["DisposalRequested", "ScrapLotAdded", "DisposalRelevelled"]
    a = app.part("A").disposal
    assert a is not None
    assert (a.level, a.approved_by, a.total_fen, msgspec.to_builtins(a.superseded)) == (
        "department",
        None,
        3_000_000,
        {"by": "bm-1", "level": "site"},
    )
    # A's disposal is refused until the department approves; the branch manager cannot re-approve it.
    with pytest.raises(CommandRejected, match=r"approved at site level by bm-1.*need department approval"):
        run(app, cmd.RecordDisposal(actor=KEEPER, part_id="A"), at("2028-01-11"))
    with pytest.raises(Forbidden, match="department"):
        run(app, cmd.ApproveDisposal(actor=BRANCH, part_id="A"), at("2028-01-11"))
    assert run(app, cmd.ApproveDisposal(actor=OFFICER, part_id="A"), at("2028-01-11")) == ["DisposalApproved"]
    assert run(app, cmd.RecordDisposal(actor=KEEPER, part_id="A"), at("2028-01-11")) == ["PartDisposed"]

    # A third 15 000 lot (45 000 with A and B) stays at department level: nothing is raised again.
    assert destroy("C", at("2028-01-12")) == ["DisposalRequested", "ScrapLotAdded"]

    replayed = replay(settings)
    relevelled = [s.envelope for s in replayed if s.envelope.type == "DisposalRelevelled"]
    assert [(e.policy_version, e.data["level_before"], e.data["superseded_approval"]) for e in relevelled] == [
        ("parts-2026.2", "site", "bm-1")
    ]


def test_an_approval_given_before_parts_2026_2_does_not_carry_a_disposal_the_window_now_puts_higher(
    app: PartsApplication,
) -> None:
    """Lots approved and split under parts-2026.1 (no re-levelling then) are checked when carried out."""
    dispatch = Dispatch(app)
    app.policy = policy.POLICIES["parts-2026.1"]
    for part_id in ("E", "F"):
        dispatch.replaced(part_id, "2027-03-01", material_code="M-AXLE", unit_price_fen=1_500_000,
                          total_fen=1_500_000)  # fmt: skip
        run(app, cmd.DecideDisposition(actor=OFFICER, part_id=part_id, disposition="destroy_local"), at("2027-03-02"))
    run(app, cmd.RequestDisposal(actor=KEEPER, part_id="E"), at("2027-03-02"))
    run(app, cmd.ApproveDisposal(actor=BRANCH, part_id="E"), at("2027-03-02"))
    run(app, cmd.RequestDisposal(actor=KEEPER, part_id="F"), at("2027-03-05"))

    app.policy = policy.POLICIES["parts-2026.2"]
    with pytest.raises(CommandRejected, match="need department approval"):
        run(app, cmd.RecordDisposal(actor=KEEPER, part_id="E"), at("2027-03-06"))


def test_parts_2026_1_is_kept_as_published() -> None:
    assert policy.CURRENT_VERSION == "parts-2026.2"
    old = policy.POLICIES["parts-2026.1"]
    assert (old.record_enforced, old.sale_requires, old.relevel_open_lots) == (False, (), False)
    with pytest.raises(ValueError, match="publish a new version"):
        policy.register_policy(dataclasses.replace(old, relevel_open_lots=True))


def replay(settings: Settings) -> list[Any]:
    """`aftersales replay all` over the parts store: every decision, 2026.1 ones included, re-runs the same."""
    history = History(settings)
    try:
        steps = [s for s in history.steps() if s.service == "parts"]
    finally:
        history.close()
    not_reproduced = [(s.envelope.type, c.rule, c.policy_version) for s in steps for c in s.checks if not c.reproduced]
    assert not not_reproduced
    assert {c.policy_version for s in steps for c in s.checks} == {"parts-2026.1", "parts-2026.2"}
    return steps
