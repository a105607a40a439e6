"""The old-parts rules (docs/rules.md §5: PRT-RECORD, PRT-DUE-7D, PRT-DISPOSITION, PRT-PRICE-FLOOR, PRT-REMOTE,
PRT-RESPONSIBILITY, PRT-SCRAP-APPROVAL, PRT-SUPPLIER-CLAIM; §4: FIN-PART-LATE), pure, given / when / then."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.parts import policy
from services.parts.domain import CommandRejected, OldPart
from services.parts.policy import RULES, current_policy, decide, evaluate
from shared.events.decisions import Actor
from shared.events.parts_events import PartFineLevied, PartOverdue, PartRecord, PartSold, SaleQuote
from shared.security.duties import SeparationOfDuties

P = current_policy()
V1 = "parts-2026.1"
RULE_IDS = {
    "PRT-RECORD",
    "PRT-DUE-7D",
    "PRT-DISPOSITION",
    "PRT-PRICE-FLOOR",
    "PRT-REMOTE",
    "PRT-RESPONSIBILITY",
    "PRT-SCRAP-APPROVAL",
    "PRT-SUPPLIER-CLAIM",
    "FIN-PART-LATE",
}
MARKET_FEN = 1_000_000  # 10 000 yuan: 5 t at 2 000 yuan/t


def test_every_parts_rule_of_the_rulebook_is_registered() -> None:
    assert set(RULES) == RULE_IDS


def floor_of(price_fen: int, region: str = "湖南", reduction: str | None = None, quotes: int = 3) -> dict[str, Any]:
    inputs = {
        "region": region,
        "day": "2026-12-02",
        "market_price_per_ton_fen": 200_000,
        "price_source": "market",
        "weight_kg": 5_000,
        "price_fen": price_fen,
        "quote_count": quotes,
        "remote_reduction": reduction,
    }
    return evaluate("PRT-PRICE-FLOOR", P.version, inputs)


# ------------------------------------------------------------------------------ PRT-RECORD


def test_prt_record_names_missing_fields_and_checks_the_total() -> None:
    record = {
        "dispatch_order_no": "PG-1",
        "equipment_no": "QY25K-1",
        "material_code": "M-100",
        "quantity": 2,
        "unit_price_fen": 150_00,
        "total_fen": 300_00,
        "responsible_engineer": "eng-9",
        "region": "四川",
        "fault": "漏油",
        "return_to_hq": True,
        "completed_on": "2026-01-01",
    }
    assert evaluate("PRT-RECORD", V1, record) == {"complete": True, "missing": [], "total_consistent": True}
    broken = {**record, "total_fen": 1, "equipment_no": ""}
    out = evaluate("PRT-RECORD", V1, broken)
    assert out["missing"] == ["equipment_no"]
    assert out["total_consistent"] is False
    assert evaluate("PRT-RECORD", P.version, record) == {
        "complete": True,
        "missing": [],
        "total_consistent": True,
        "sale_blocked_by": [],
    }


RECORD = {
    "dispatch_order_no": "PG-1",
    "equipment_no": "QY25K-1",
    "material_code": "M-100",
    "quantity": 2,
    "unit_price_fen": 150_00,
    "total_fen": 300_00,
    "responsible_engineer": "eng-9",
    "region": "四川",
    "fault": "漏油",
    "return_to_hq": True,
    "completed_on": "2026-01-01",
}


def test_prt_record_2026_2_a_blank_region_or_equipment_no_is_missing_and_blocks_a_sale() -> None:
    # 004 附件三: 设备编号 (equipment no.) and 区域 (region) are columns of every part's line.
    out = evaluate("PRT-RECORD", "parts-2026.2", {**RECORD, "equipment_no": "", "region": "  "})
    assert (out["complete"], out["missing"], out["sale_blocked_by"]) == (False, ["equipment_no", "region"], ["region"])
    only_equipment = evaluate("PRT-RECORD", "parts-2026.2", {**RECORD, "equipment_no": ""})
    assert (only_equipment["missing"], only_equipment["sale_blocked_by"]) == (["equipment_no"], [])
    # Under parts-2026.1 a whitespace region passed as recorded: that version still computes the same.
    assert evaluate("PRT-RECORD", V1, {**RECORD, "region": "  "})["missing"] == []


def test_prt_price_floor_2026_2_names_a_missing_region_the_sale_waits_for() -> None:
    inputs = {"region": "", "day": "2026-12-02", "market_price_per_ton_fen": 200_000, "price_source": "reference",
              "weight_kg": 5_000, "price_fen": 850_000, "quote_count": 3, "remote_reduction": None}  # fmt: skip
    assert evaluate("PRT-PRICE-FLOOR", "parts-2026.2", inputs)["sale_blocked_by"] == ["region"]
    assert evaluate("PRT-PRICE-FLOOR", "parts-2026.2", {**inputs, "region": "四川"})["sale_blocked_by"] == []
    assert "sale_blocked_by" not in evaluate("PRT-PRICE-FLOOR", V1, inputs)  # 2026.1: an empty region sold


def test_a_part_without_region_cannot_be_sold_until_the_record_is_completed() -> None:
    part = recorded_part(region="")
    at = dt.datetime.fromisoformat("2026-01-03T10:00:00+08:00")
    part.flag_incomplete(decide("PRT-RECORD", msgspec.structs.asdict(part.record), P), at, "c")
    assert part.record_missing == ["region"]
    with pytest.raises(CommandRejected, match="lacks the region"):
        part.require_record_for_sale(decide("PRT-RECORD", msgspec.structs.asdict(part.record), P))
    with pytest.raises(CommandRejected, match="recorded already"):
        part.complete_record(Actor("wk-1", "warehouse_keeper"), {"equipment_no": "X"}, decide("PRT-RECORD", {}, P),
                             at, "c")  # fmt: skip
    with pytest.raises(CommandRejected, match="blank"):
        part.complete_record(Actor("wk-1", "warehouse_keeper"), {"region": " "}, decide("PRT-RECORD", {}, P), at, "c")
    check = decide("PRT-RECORD", {**msgspec.structs.asdict(part.record), "region": "四川"}, P)
    part.complete_record(Actor("wk-1", "warehouse_keeper"), {"region": "四川"}, check, at, "c")
    assert (part.record.region, part.record_missing) == ("四川", [])
    part.require_record_for_sale(decide("PRT-RECORD", msgspec.structs.asdict(part.record), P))  # no longer refused


# ------------------------------------------------------------------------------ PRT-DUE-7D, FIN-PART-LATE


def test_prt_due_7d_done_1_jan_is_due_8_jan() -> None:
    out = evaluate("PRT-DUE-7D", P.version, {"completed_on": "2026-01-01"})
    assert out["due_date"] == "2026-01-08"
    assert out["delay_days"] == 0
    assert out["next_check_at"] == "2026-01-09T00:00:00+08:00"


@pytest.mark.parametrize(("on", "delay"), [("2026-01-08", 0), ("2026-01-09", 1), ("2026-01-10", 2), ("2026-01-03", 0)])
def test_prt_due_7d_delay_days_count_days_after_the_due_date(on: str, delay: int) -> None:
    # 004 附件三: required 1 Jan 10, not handed in on 12 Jan → 2 days. Here done 3 Jan → due 10 Jan.
    out = evaluate("PRT-DUE-7D", P.version, {"completed_on": "2026-01-01", "on": on})
    assert out["delay_days"] == delay


def test_seed_example_due_10_jan_not_handed_in_on_12_jan_is_2_days_late() -> None:
    out = evaluate("PRT-DUE-7D", P.version, {"completed_on": "2026-01-03", "on": "2026-01-12"})
    assert (out["due_date"], out["delay_days"]) == ("2026-01-10", 2)
    assert out["next_check_at"] == "2026-01-13T00:00:00+08:00"


@given(st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2035, 12, 31)), st.integers(0, 400))
def test_prt_due_7d_delay_is_days_past_due_never_negative(done: dt.date, later: int) -> None:
    on = done + dt.timedelta(days=later)
    out = evaluate("PRT-DUE-7D", P.version, {"completed_on": done.isoformat(), "on": on.isoformat()})
    assert out["due_date"] == (done + dt.timedelta(days=7)).isoformat()
    assert out["delay_days"] == max(0, later - 7)


@pytest.mark.parametrize(
    ("on", "reason", "fine"), [("2026-01-08", False, False), ("2026-01-09", False, True), ("2026-01-09", True, False)]
)
def test_fin_part_late_only_after_the_due_date_and_without_a_reason(on: str, reason: bool, fine: bool) -> None:
    out = evaluate(
        "FIN-PART-LATE",
        P.version,
        {"engineer": "eng-9", "part_id": "P1", "due_date": "2026-01-08", "on": on, "reason_reported": reason},
    )
    assert out["fine"] is fine
    assert out["amount_fen"] == (P.fine_part_late_fen if fine else 0)
    assert out["person"] == "eng-9"


# ------------------------------------------------------------------------------ PRT-PRICE-FLOOR, PRT-REMOTE


def test_prt_price_floor_exactly_85_percent_of_market_passes() -> None:
    out = floor_of(850_000)
    assert out["market_value_fen"] == MARKET_FEN
    assert out["floor_fen"] == 850_000
    assert out["below_floor"] is False
    assert out["approvals_required"] == []


def test_prt_price_floor_84_99_percent_needs_approval() -> None:
    out = floor_of(849_900)
    assert out["below_floor"] is True
    assert out["reason_required"] is True
    assert out["approvals_required"] == ["old_parts_officer", "gm"]


def test_prt_price_floor_needs_three_quotes() -> None:
    assert floor_of(900_000, quotes=3)["quotes_ok"] is True
    assert floor_of(900_000, quotes=2)["quotes_ok"] is False


def test_prt_remote_region_with_r_10_percent_gives_a_floor_of_76_5_percent() -> None:
    out = floor_of(765_000, region="四川", reduction="0.10")
    assert out["floor_ratio"] == "0.765"
    assert out["floor_fen"] == 765_000
    assert out["below_floor"] is False
    assert floor_of(764_999, region="四川", reduction="0.10")["below_floor"] is True


@pytest.mark.parametrize(
    ("region", "reduction", "allowed"),
    [
        ("四川", "0.05", True),
        ("新疆", "0.10", True),
        ("四川", "0.04", False),
        ("四川", "0.11", False),
        ("湖南", "0.05", False),
        ("湖南", None, True),
    ],
)
def test_prt_remote_reduction_only_5_to_10_percent_and_only_in_remote_regions(
    region: str, reduction: str | None, allowed: bool
) -> None:
    assert evaluate("PRT-REMOTE", P.version, {"region": region, "reduction": reduction})["allowed"] is allowed


def test_prt_remote_regions_are_the_rulebooks_fifteen() -> None:
    assert len(policy.REMOTE_REGIONS) == 15
    assert {"宁夏", "青海", "黑龙江", "新疆", "内蒙古"} <= policy.REMOTE_REGIONS


@given(st.integers(1, 10**9), st.sampled_from(["0.05", "0.07", "0.10"]))
def test_prt_price_floor_multiplies_the_remote_reduction(market_fen: int, r: str) -> None:
    ratio = policy.floor_ratio(P, Decimal(r))
    assert ratio == Decimal("0.85") * (1 - Decimal(r))
    assert Decimal("0.765") <= ratio <= Decimal("0.8075")


# ------------------------------------------------------------------------------ PRT-SCRAP-APPROVAL


def scrap(value_fen: int, *others: tuple[str, int, str], on: str = "2026-12-01") -> dict[str, Any]:
    lots = [{"part_id": pid, "original_value_fen": v, "on": day} for pid, v, day in others]
    lot = {"part_id": "LOT", "original_value_fen": value_fen, "on": on}
    return evaluate("PRT-SCRAP-APPROVAL", P.version, {"lot": lot, "lots": lots})


@pytest.mark.parametrize(
    ("value_fen", "level"),
    [(2_000_000, "site"), (2_000_001, "department"), (5_000_000, "department"), (5_000_001, "leadership")],
)
def test_prt_scrap_approval_20_000_and_50_000_edges(value_fen: int, level: str) -> None:
    assert scrap(value_fen)["level"] == level


def test_prt_scrap_approval_a_60_000_lot_split_into_three_20_000_lots_still_needs_leadership() -> None:
    out = scrap(2_000_000, ("A", 2_000_000, "2026-12-01"), ("B", 2_000_000, "2026-12-03"))
    assert out["total_fen"] == 6_000_000
    assert out["level"] == "leadership"
    assert out["approvers"] == ["gm"]  # docs/rules.md §7: the GM approves leadership-level scrap


def test_prt_scrap_approval_lots_outside_the_window_are_not_summed() -> None:
    out = scrap(2_000_000, ("OLD", 2_000_000, "2026-09-01"))
    assert (out["level"], out["lots"]) == ("site", ["LOT"])


def test_prt_scrap_approval_2026_2_a_lot_approved_at_site_is_raised_when_the_window_crosses_20_000() -> None:
    # 004 废旧物资 1.5–1.6: ≤ 20 000 site, 20 000–50 000 department, > 50 000 leadership; no splitting.
    lot = {"part_id": "FIRST", "original_value_fen": 1_500_000, "on": "2026-12-01"}
    second = {"part_id": "SECOND", "original_value_fen": 1_500_000, "on": "2026-12-20"}
    inputs = {"lot": lot, "lots": [second], "level_before": "site"}
    out = evaluate("PRT-SCRAP-APPROVAL", "parts-2026.2", inputs)
    assert (out["level"], out["total_fen"], out["raised"], out["approvers"]) == (
        "department",
        3_000_000,
        True,
        ["gm", "old_parts_officer"],
    )
    same = evaluate("PRT-SCRAP-APPROVAL", "parts-2026.2", {**inputs, "level_before": "department"})
    assert same["raised"] is False
    far = {**second, "on": "2027-01-05"}  # 35 days later: outside the 30-day window, not summed
    assert evaluate("PRT-SCRAP-APPROVAL", "parts-2026.2", {**inputs, "lots": [far]})["raised"] is False
    assert "raised" not in evaluate("PRT-SCRAP-APPROVAL", V1, inputs)  # 2026.1 computes what it computed


def test_a_relevelled_disposal_is_refused_until_the_higher_level_approves() -> None:
    part = recorded_part()
    at = dt.datetime.fromisoformat("2026-01-03T10:00:00+08:00")
    officer, keeper = Actor("opo-1", "old_parts_officer"), Actor("wk-1", "warehouse_keeper")
    part.decide_disposition(officer, decide("PRT-DISPOSITION", facts("destroy_local"), P), at, "c")
    lot = {"part_id": "P1", "original_value_fen": 1_500_000, "on": "2026-01-03"}
    site = decide("PRT-SCRAP-APPROVAL", {"lot": lot, "lots": []}, P)
    part.request_disposal(keeper, site, at, "c")
    part.approve_disposal(Actor("bm-1", "branch_manager"), site, at, "c")
    second = {"part_id": "P2", "original_value_fen": 1_000_000, "on": "2026-01-10"}
    raised = decide("PRT-SCRAP-APPROVAL", {"lot": lot, "lots": [second], "level_before": "site"}, P)
    assert part.relevel_disposal(raised, at, "c") is True
    with pytest.raises(CommandRejected, match=r"approved at site level by bm-1.*need department approval"):
        part.dispose(keeper, None, at, "c")
    part.approve_disposal(officer, raised, at, "c")
    part.dispose(keeper, None, at, "c")
    assert part.status == "disposed"


def test_prt_scrap_approval_higher_levels_may_approve_lower_ones() -> None:
    assert scrap(100)["approvers"] == ["branch_manager", "gm", "old_parts_officer"]
    assert scrap(3_000_000)["approvers"] == ["gm", "old_parts_officer"]


# ------------------------------------------------------------------------------ PRT-RESPONSIBILITY, claims


@pytest.mark.parametrize(
    ("part_class", "days", "due"),
    [
        ("domestic_non_critical", 7, "2026-03-08"),
        ("domestic_critical", 15, "2026-03-16"),
        ("imported_tested_in_china", 20, "2026-03-21"),
        ("imported_tested_abroad", 90, "2026-05-30"),
    ],
)
def test_prt_responsibility_deadlines_7_15_20_90_days_from_the_review(part_class: str, days: int, due: str) -> None:
    out = evaluate("PRT-RESPONSIBILITY", P.version, {"part_class": part_class, "review_date": "2026-03-01"})
    assert (out["days"], out["due_date"]) == (days, due)
    assert out["escalate_at"] == (dt.date.fromisoformat(due) + dt.timedelta(days=1)).isoformat() + "T00:00:00+08:00"
    assert out["escalate_to"] == "branch_manager"


def test_prt_supplier_claim_when_the_cost_is_the_suppliers() -> None:
    facts = {"attributed_to": "supplier", "party": "恒立液压", "cost_fen": 1_200_00, "in_warranty": True}
    assert evaluate("PRT-SUPPLIER-CLAIM", P.version, facts) == {
        "claim": True,
        "supplier": "恒立液压",
        "amount_fen": 1_200_00,
    }
    department = {**facts, "attributed_to": "department", "party": "装配车间"}
    assert evaluate("PRT-SUPPLIER-CLAIM", P.version, department)["claim"] is False


# ------------------------------------------------------------------------------ PRT-DISPOSITION


def facts(chosen: str, **values: Any) -> dict[str, Any]:
    base = {
        "claim_value_fen": 0,
        "reuse_value_fen": 0,
        "return_freight_fen": 0,
        "sale_value_fen": 0,
        "needed_for_analysis": False,
        "chosen": chosen,
    }
    return {**base, **values}


@pytest.mark.parametrize(
    ("values", "allowed"),
    [
        ({"claim_value_fen": 1}, ["return"]),
        ({"needed_for_analysis": True}, ["return"]),
        ({"reuse_value_fen": 500_00, "return_freight_fen": 300_00}, ["return"]),
        ({"reuse_value_fen": 100_00, "return_freight_fen": 300_00, "sale_value_fen": 800_00}, ["sell_local"]),
        ({"sale_value_fen": 50_00}, ["sell_local", "give_away"]),
        ({}, ["destroy_local", "give_away"]),
    ],
)
def test_prt_disposition_follows_the_facts(values: dict[str, Any], allowed: list[str]) -> None:
    out = evaluate("PRT-DISPOSITION", P.version, facts("return", **values))
    assert out["allowed"] == allowed
    assert out["accepted"] is ("return" in allowed)


# ------------------------------------------------------------------------------ the aggregate (given / when / then)


def recorded_part(return_to_hq: bool = False, region: str = "四川") -> OldPart:
    at = dt.datetime.fromisoformat("2026-01-01T18:00:00+08:00")
    record = PartRecord(
        dispatch_order_no="PG-1",
        equipment_no="QY25K-1",
        material_code="M-100",
        quantity=1,
        unit_price_fen=2_000_000,
        total_fen=2_000_000,
        responsible_engineer="eng-9",
        region=region,
        fault="漏油",
        return_to_hq=return_to_hq,
        completed_on="2026-01-01",
    )
    due = decide("PRT-DUE-7D", {"completed_on": "2026-01-01"}, P)
    return OldPart.record_part(
        part_id="P1",
        complaint_no="TS-2026-00000001",
        dispatch_id=None,
        record=record,
        recorded_by="eng-9",
        due=due,
        at=at,
        causation_id="test",
    )


def fine_on(part: OldPart, on: str) -> Any:
    return decide(
        "FIN-PART-LATE",
        {
            "engineer": "eng-9",
            "part_id": "P1",
            "due_date": part.due_date,
            "on": on,
            "reason_reported": part.delay_reason is not None,
        },
        P,
    )


def test_overdue_checks_grow_the_delay_and_fine_exactly_once() -> None:
    part = recorded_part()
    assert part.due_date == "2026-01-08"
    for day in ("2026-01-09", "2026-01-10", "2026-01-12"):
        now = dt.datetime.fromisoformat(f"{day}T00:00:00+08:00")
        delay = decide("PRT-DUE-7D", {"completed_on": "2026-01-01", "on": day}, P)
        part.check_overdue(delay, fine_on(part, day), now, "clock")
    events: list[object] = list(part.collect_events())
    assert [e.delay_days for e in events if isinstance(e, PartOverdue)] == [1, 2, 4]
    fines = [e for e in events if isinstance(e, PartFineLevied)]
    assert len(fines) == 1
    assert (fines[0].rule, fines[0].amount_fen, fines[0].person) == ("FIN-PART-LATE", 5_000, "eng-9")


def test_a_reason_reported_before_the_due_date_excuses_the_fine() -> None:
    part = recorded_part()
    part.report_delay(
        Actor("eng-9", "engineer"),
        "等待厂家配件",
        dt.date(2026, 1, 15),
        dt.datetime.fromisoformat("2026-01-05T09:00:00+08:00"),
        "cmd",
    )
    delay = decide("PRT-DUE-7D", {"completed_on": "2026-01-01", "on": "2026-01-10"}, P)
    part.check_overdue(delay, fine_on(part, "2026-01-10"), dt.datetime.fromisoformat("2026-01-10T00:00:00+08:00"), "c")
    events: list[object] = list(part.collect_events())
    assert not [e for e in events if isinstance(e, PartFineLevied)]
    assert [e.excused for e in events if isinstance(e, PartOverdue)] == [True]


def test_a_sale_below_the_floor_is_refused_until_verified_and_approved_by_the_gm() -> None:
    part = recorded_part()
    disposition = decide("PRT-DISPOSITION", facts("sell_local", sale_value_fen=900_000), P)
    at = dt.datetime.fromisoformat("2026-01-03T10:00:00+08:00")
    part.decide_disposition(Actor("opo-1", "old_parts_officer"), disposition, at, "c")
    floor = decide(
        "PRT-PRICE-FLOOR",
        {
            "region": "湖南",
            "day": "2026-01-03",
            "market_price_per_ton_fen": 200_000,
            "price_source": "market",
            "weight_kg": 5_000,
            "price_fen": 800_000,
            "quote_count": 3,
            "remote_reduction": None,
        },
        P,
    )
    quotes = [SaleQuote(buyer=f"回收站{i}", contact="1390000000", price_fen=780_000 + i) for i in range(3)]
    with pytest.raises(CommandRejected, match="written reason"):
        part.report_sale(Actor("wk-1", "warehouse_keeper"), "回收站2", 800_000, quotes, None, floor, at, "c")
    part.report_sale(Actor("wk-1", "warehouse_keeper"), "回收站2", 800_000, quotes, "吊装切割费高", floor, at, "c")
    with pytest.raises(SeparationOfDuties, match="SOD-OWN-SALE"):
        part.verify_sale(Actor("wk-1", "old_parts_officer"), at, "c")  # the reporter cannot verify their own sale
    with pytest.raises(SeparationOfDuties, match="SOD-OWN-SALE"):
        part.approve_sale(Actor("wk-1", "gm"), at, "c")  # nor approve it
    part.verify_sale(Actor("opo-1", "old_parts_officer"), at, "c")
    with pytest.raises(CommandRejected, match="general manager's approval"):
        part.record_sale(
            Actor("opo-1", "old_parts_officer"), decide("PRT-RECORD", msgspec.structs.asdict(part.record), P), at, "c"
        )
    part.approve_sale(Actor("gm-1", "gm"), at, "c")
    part.record_sale(
        Actor("opo-1", "old_parts_officer"), decide("PRT-RECORD", msgspec.structs.asdict(part.record), P), at, "c"
    )
    sold = [e for e in list[object](part.collect_events()) if isinstance(e, PartSold)]
    assert len(sold) == 1
    assert (sold[0].rule, sold[0].floor_fen, sold[0].quotes, sold[0].payable_to) == (
        "PRT-PRICE-FLOOR",
        850_000,
        quotes,
        "finance",
    )


def test_prt_disposition_a_part_that_must_return_to_hq_may_only_be_returned() -> None:
    facts = {"claim_value_fen": 0, "reuse_value_fen": 0, "return_freight_fen": 5_000, "sale_value_fen": 0,
             "needed_for_analysis": False, "part_id": "P-1"}  # fmt: skip
    free = evaluate("PRT-DISPOSITION", policy.CURRENT_VERSION, {**facts, "chosen": "destroy_local"})
    assert free["accepted"] is True
    bound = evaluate(
        "PRT-DISPOSITION", policy.CURRENT_VERSION, {**facts, "chosen": "destroy_local", "must_return": True}
    )
    assert bound["accepted"] is False
    assert bound["allowed"] == ["return"]


def test_prt_supplier_claim_needs_a_failure_in_warranty() -> None:
    base = {"attributed_to": "supplier", "party": "某供应商", "cost_fen": 100_000}
    assert evaluate("PRT-SUPPLIER-CLAIM", policy.CURRENT_VERSION, {**base, "in_warranty": True})["claim"] is True
    for unknown_or_out in (None, False):
        assert (
            evaluate("PRT-SUPPLIER-CLAIM", policy.CURRENT_VERSION, {**base, "in_warranty": unknown_or_out})["claim"]
            is False
        )


def test_prt_price_floor_three_quotes_must_come_from_three_buyers() -> None:
    from services.parts.application import distinct_buyers
    from shared.events.commands import Quote

    same = [Quote("废品回收站甲", f"1380000000{n}", 100_000 + n) for n in range(3)]
    assert distinct_buyers(same) == 1
    three = [Quote("废品回收站甲", "1", 1), Quote("金属回收乙", "2", 2), Quote(" 废品回收站甲 ", "3", 3),
             Quote("丙公司", "4", 4)]  # fmt: skip
    assert distinct_buyers(three) == 3
