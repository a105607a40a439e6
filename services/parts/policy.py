"""Old-parts rules of docs/rules.md §5 (PRT-*) and FIN-PART-LATE, as pure functions over data.

Every rule is registered under its rule id as `rule(policy, inputs) -> outputs`; inputs and outputs
are JSON-able (money in integer fen, ratios as decimal strings, dates as ISO strings). A decision
event records the rule id, the policy version, the inputs and the outputs, and `evaluate` re-runs
the same rule of the same policy version on the same inputs. The numbers live in `PartsPolicy`,
one frozen value per version: a change of regulation is a new version, never an edit of an old one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from types import MappingProxyType

from services.parts.identity import is_blank, start_of_day
from shared.events.decisions import Inputs, Outputs, Rulebook

REMOTE_REGIONS = frozenset(
    {
        "宁夏",
        "青海",
        "甘肃",
        "辽宁",
        "云南",
        "重庆",
        "广西",
        "四川",
        "内蒙古",
        "河北",
        "湖北",
        "贵州",
        "吉林",
        "黑龙江",
        "新疆",
    }
)
DISPOSITIONS = ("return", "sell_local", "destroy_local", "give_away")
SCRAP_LEVELS = ("site", "department", "leadership")


@dataclass(frozen=True)
class PartsPolicy:
    version: str
    hand_in_days: int = 7  # PRT-DUE-7D (calendar days after completion)
    fine_part_late_fen: int = 5_000  # FIN-PART-LATE: 50 yuan, settled in service fees (004 §7.4)
    price_floor_ratio: Decimal = Decimal("0.85")  # PRT-PRICE-FLOOR
    min_quotes: int = 3  # PRT-PRICE-FLOOR
    remote_regions: frozenset[str] = REMOTE_REGIONS  # PRT-REMOTE
    remote_reduction_min: Decimal = Decimal("0.05")  # PRT-REMOTE
    remote_reduction_max: Decimal = Decimal("0.10")  # PRT-REMOTE
    # Per-ton reference prices (004 附件十: structural parts, e.g. 2000 元/吨) when no market price was recorded.
    reference_price_per_ton_fen: Mapping[str, int] = field(
        default_factory=lambda: MappingProxyType({"structural": 200_000})
    )
    give_away_max_fen: int = 20_000  # PRT-DISPOSITION: "little value" (赠送) is at most 200 yuan of sale value
    scrap_site_max_fen: int = 2_000_000  # PRT-SCRAP-APPROVAL: ≤ 20 000 yuan: the site approves and reports
    scrap_department_max_fen: int = 5_000_000  # ≤ 50 000 yuan: the department; above: the leadership
    scrap_window_days: int = 30  # lots of one spec and source within this many days are summed (no splitting)
    # Who approves at each level; a higher level may approve a lower one.
    scrap_approvers: Mapping[str, frozenset[str]] = field(
        default_factory=lambda: MappingProxyType(
            {
                "site": frozenset({"branch_manager"}),
                "department": frozenset({"old_parts_officer"}),
                "leadership": frozenset({"gm"}),  # docs/rules.md §7: the GM approves leadership-level scrap
            }
        )
    )
    responsibility_days: Mapping[str, int] = field(  # PRT-RESPONSIBILITY, calendar days from the review date
        default_factory=lambda: MappingProxyType(
            {
                "domestic_non_critical": 7,
                "domestic_critical": 15,
                "imported_tested_in_china": 20,
                "imported_tested_abroad": 90,
            }
        )
    )
    responsibility_escalate_to: str = "branch_manager"
    # PRT-RECORD enforced (parts-2026.2): a blank field counts as missing, a part recorded from dispatch is
    # checked, and a sale (PRT-PRICE-FLOOR) waits for these fields: without the region PRT-REMOTE cannot apply.
    record_enforced: bool = False
    sale_requires: tuple[str, ...] = ()
    # PRT-SCRAP-APPROVAL (parts-2026.2): when the window's sum crosses a threshold, lots requested or approved
    # but not yet disposed of are re-levelled; an approval below the new level no longer carries the disposal.
    relevel_open_lots: bool = False


BOOK: Rulebook[PartsPolicy] = Rulebook(PartsPolicy(version="parts-2026.1"))
POLICIES: Mapping[str, PartsPolicy] = BOOK.policies
RULES = BOOK.rules
rule = BOOK.rule
decide = BOOK.decide
evaluate = BOOK.evaluate
register_policy = BOOK.register_policy

# Issue 13: PRT-RECORD enforced for parts that come from dispatch, split lots re-levelled after approval.
# parts-2026.1 stays registered unchanged, so the decisions taken under it still re-run to the same outputs.
register_policy(
    dataclasses.replace(
        BOOK.current(), version="parts-2026.2", record_enforced=True, sale_requires=("region",), relevel_open_lots=True
    )
)
BOOK.current_version = "parts-2026.2"
CURRENT_VERSION = BOOK.current_version


def current_policy() -> PartsPolicy:
    return BOOK.current()


def _date(value: str) -> dt.date:
    return dt.date.fromisoformat(value)


# ------------------------------------------------------------------------ hand-in (PRT-DUE-7D)


@rule("PRT-DUE-7D")
def hand_in_due(policy: PartsPolicy, inputs: Inputs) -> Outputs:
    """Due date = completion + 7 calendar days (done 1 Jan → due 8 Jan); delay days = days after the
    due date (due 10 Jan, not handed in on 12 Jan → 2 days). 004 附件三.

    Inputs: `completed_on`, and optionally `on` (the day to count the delay for).
    """
    due = _date(inputs["completed_on"]) + dt.timedelta(days=policy.hand_in_days)
    outputs: Outputs = {"due_date": due.isoformat(), "days": policy.hand_in_days}
    on = inputs.get("on")
    delay = max(0, (_date(on) - due).days) if on else 0
    outputs["delay_days"] = delay
    # The next moment the delay grows: the start of the day after the due date, or after `on`.
    outputs["next_check_at"] = start_of_day(max(due, _date(on) if on else due) + dt.timedelta(days=1)).isoformat()
    return outputs


@rule("FIN-PART-LATE")
def part_late_fine(policy: PartsPolicy, inputs: Inputs) -> Outputs:
    """An old part handed in after its due date without a reported reason: a fine set by the policy,
    to the responsible engineer, settled in service fees (docs/rules.md §4, 004 §7.4)."""
    late = _date(inputs["on"]) > _date(inputs["due_date"])
    fine = late and not inputs["reason_reported"]
    return {
        "fine": fine,
        "amount_fen": policy.fine_part_late_fen if fine else 0,
        "person": inputs["engineer"],
        "role": "engineer",
    }


# ------------------------------------------------------------------------ disposition (PRT-DISPOSITION)


@rule("PRT-DISPOSITION")
def disposition(policy: PartsPolicy, inputs: Inputs) -> Outputs:
    """Which dispositions the facts allow (004 §3):
    - `return` (返司): claim value, reusable (and worth the freight), or needed for technical analysis;
    - otherwise `sell_local` when it has sale value, `give_away` when that value is small or nil,
      `destroy_local` when it has no sale value.
    The chosen one must be allowed; the first allowed is the recommendation."""
    claim, reuse = int(inputs["claim_value_fen"]), int(inputs["reuse_value_fen"])
    freight, sale = int(inputs["return_freight_fen"]), int(inputs["sale_value_fen"])
    must_return = bool(inputs.get("must_return"))  # the part record says it must go back to HQ
    if must_return or claim > 0 or inputs["needed_for_analysis"] or (reuse > 0 and freight <= reuse):
        allowed = ["return"]
    elif sale == 0:
        allowed = ["destroy_local", "give_away"]
    elif sale <= policy.give_away_max_fen:
        allowed = ["sell_local", "give_away"]
    else:
        allowed = ["sell_local"]
    chosen = inputs["chosen"]
    return {"allowed": allowed, "recommended": allowed[0], "disposition": chosen, "accepted": chosen in allowed}


# ------------------------------------------------------------------------ local sale (PRT-PRICE-FLOOR, PRT-REMOTE)


@rule("PRT-REMOTE")
def remote_reduction(policy: PartsPolicy, inputs: Inputs) -> Outputs:
    """In remote regions the price may be lowered a further 5–10 % (004 §7.2.4). No reduction asked is
    always fine; a reduction outside [0.05, 0.10], or outside a remote region, is not allowed."""
    remote = inputs["region"] in policy.remote_regions
    asked = inputs.get("reduction")
    if asked is None:
        return {"remote": remote, "reduction": "0", "allowed": True}
    r = Decimal(str(asked))
    allowed = remote and policy.remote_reduction_min <= r <= policy.remote_reduction_max
    return {"remote": remote, "reduction": str(r), "allowed": allowed}


def floor_ratio(policy: PartsPolicy, reduction: Decimal) -> Decimal:
    """Decision (PRT-PRICE-FLOOR with PRT-REMOTE): floor = market × 0.85 × (1 − r)."""
    return policy.price_floor_ratio * (Decimal(1) - reduction)


@rule("PRT-PRICE-FLOOR")
def price_floor(policy: PartsPolicy, inputs: Inputs) -> Outputs:
    """A local sale is priced from the region's scrap-metal market price of the day (per ton, or the
    per-ton reference price): floor = market × 0.85 × (1 − r). At least 3 buyer quotes. Below the floor
    it needs a written reason, the old-parts officer's verification and the GM's approval (004 §7.2)."""
    remote = remote_reduction(policy, {"region": inputs["region"], "reduction": inputs.get("remote_reduction")})
    reduction = Decimal(remote["reduction"]) if remote["allowed"] else Decimal(0)
    market = Decimal(int(inputs["market_price_per_ton_fen"])) * Decimal(int(inputs["weight_kg"])) / Decimal(1000)
    ratio = floor_ratio(policy, reduction)
    floor = market * ratio
    price = Decimal(int(inputs["price_fen"]))
    below = price < floor
    quotes_ok = int(inputs["quote_count"]) >= policy.min_quotes
    return {
        "market_value_fen": int(market.quantize(Decimal(1), ROUND_HALF_UP)),
        "floor_ratio": str(ratio.normalize()),
        "floor_fen": int(floor.quantize(Decimal(1), ROUND_CEILING)),
        "price_ratio": str((price / market).quantize(Decimal("0.0001"), ROUND_HALF_UP)) if market else None,
        "below_floor": below,
        "remote": remote,
        "quotes_ok": quotes_ok,
        "min_quotes": policy.min_quotes,
        "approvals_required": ["old_parts_officer", "gm"] if below else [],
        "reason_required": below,
        **_sale_record(policy, inputs),
    }


def _sale_record(policy: PartsPolicy, inputs: Inputs) -> Outputs:
    """parts-2026.2: the PRT-RECORD fields a sale waits for (the region) that the record lacks."""
    if not policy.sale_requires:
        return {}
    return {"sale_blocked_by": [name for name in policy.sale_requires if is_blank(inputs.get(name))]}


# ------------------------------------------------------------------------ scrap approval (PRT-SCRAP-APPROVAL)


def scrap_level(policy: PartsPolicy, total_fen: int) -> str:
    """≤ 20 000 yuan the site; 20 000–50 000 (50 000 included) the department; above, the leadership."""
    if total_fen <= policy.scrap_site_max_fen:
        return "site"
    if total_fen <= policy.scrap_department_max_fen:
        return "department"
    return "leadership"


@rule("PRT-SCRAP-APPROVAL")
def scrap_approval(policy: PartsPolicy, inputs: Inputs) -> Outputs:
    """Scrap approval by original value, with no splitting: lots of the same spec from the same source
    within the policy window are summed before the threshold applies (004 废旧物资 1.5–1.6).

    Inputs: `lot` {part_id, original_value_fen, on} and `lots` (every lot of that spec and source,
    the lot itself included or not). From parts-2026.2 also `level_before`, the level the lot was
    requested or approved at: `raised` says the sum now needs a higher approver (re-levelling, 1.8
    "申请处理尚未批准或已批准未处理的物资" are still under the rule)."""
    lot = inputs["lot"]
    on = _date(lot["on"])
    window = policy.scrap_window_days
    counted = {lot["part_id"]: int(lot["original_value_fen"])}
    for other in inputs["lots"]:
        if abs((_date(other["on"]) - on).days) <= window:
            counted[other["part_id"]] = int(other["original_value_fen"])
    total = sum(counted.values())
    level = scrap_level(policy, total)
    approvers = sorted(set().union(*(policy.scrap_approvers[lv] for lv in SCRAP_LEVELS[SCRAP_LEVELS.index(level) :])))
    outputs: Outputs = {"level": level, "total_fen": total, "lots": sorted(counted), "window_days": window,
                        "approvers": approvers}  # fmt: skip
    before = inputs.get("level_before")
    if policy.relevel_open_lots and before is not None:
        outputs["level_before"] = before
        outputs["raised"] = SCRAP_LEVELS.index(level) > SCRAP_LEVELS.index(before)
    return outputs


# ------------------------------------------------------------------------ responsibility (PRT-RESPONSIBILITY)


@rule("PRT-RESPONSIBILITY")
def responsibility_deadline(policy: PartsPolicy, inputs: Inputs) -> Outputs:
    """Responsibility settled within calendar days of the review date, by part class (004 §7.3):
    domestic non-critical 7, domestic critical (supplier analysis) 15, imported tested in China 20,
    imported tested abroad 90. A missed deadline is escalated at the start of the day after."""
    days = policy.responsibility_days[inputs["part_class"]]
    due = _date(inputs["review_date"]) + dt.timedelta(days=days)
    return {
        "days": days,
        "due_date": due.isoformat(),
        "escalate_at": start_of_day(due + dt.timedelta(days=1)).isoformat(),
        "escalate_to": policy.responsibility_escalate_to,
    }


@rule("PRT-SUPPLIER-CLAIM")
def supplier_claim(policy: PartsPolicy, inputs: Inputs) -> Outputs:
    """A bought-in part that failed in warranty is claimed back from its supplier (001 §3.1)."""
    claim = inputs["attributed_to"] == "supplier" and bool(inputs["party"]) and inputs["in_warranty"] is True
    return {
        "claim": claim,
        "supplier": inputs["party"] if claim else None,
        "amount_fen": int(inputs["cost_fen"]) if claim else 0,
    }


# ------------------------------------------------------------------------ the record itself (PRT-RECORD)

RECORD_FIELDS = (
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
)


@rule("PRT-RECORD")
def part_record(policy: PartsPolicy, inputs: Inputs) -> Outputs:
    """A replaced part is recorded with dispatch order no. (审批号), equipment no., material code,
    quantity, unit price, total, responsible engineer, region, fault, whether it must return to
    headquarters, completion date (004 附件三). Reports what is missing and whether the total adds up.
    From parts-2026.2 a blank field is missing too, and `sale_blocked_by` names the missing fields a
    sale waits for (the region, without which PRT-REMOTE cannot apply)."""
    if policy.record_enforced:
        missing = [name for name in RECORD_FIELDS if is_blank(inputs.get(name))]
    else:
        missing = [name for name in RECORD_FIELDS if inputs.get(name) in (None, "")]
    amounts = [inputs.get(name) for name in ("quantity", "unit_price_fen", "total_fen")]
    consistent = None
    if all(a is not None for a in amounts):
        quantity, unit, total = (int(a) for a in amounts if a is not None)
        consistent = quantity * unit == total
    outputs: Outputs = {"complete": not missing, "missing": missing, "total_consistent": consistent}
    if policy.record_enforced:
        outputs["sale_blocked_by"] = [name for name in policy.sale_requires if name in missing]
    return outputs
