"""Dispatch rules of docs/rules.md §3 (DSP-*) and the fines and escalations of §4 (FIN-*) as pure functions.

Every rule is registered under its rule id as `rule(policy, inputs) -> outputs`, inputs and outputs
JSON-able. A decision event records the rule id, the policy version, the inputs and the outputs;
`evaluate` re-runs the same rule of the same policy version on the same inputs (what a replay checks).
Numbers live in `DispatchPolicy`, one frozen value per version.

Working days (工作日) follow the China working calendar of `shared.workcal` (versioned policy data:
Mon–Fri, minus statutory holidays, plus make-up workdays 调休); the day is 08:30–17:00 Asia/Shanghai.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from shared.events.decisions import Inputs, Outputs, Rulebook
from shared.workcal import (
    CHINA,
    WorkingCalendar,
    WorkingHours,
    default_calendar,
    end_of_working_days,
    late_day_start,
)


@dataclass(frozen=True)
class DispatchPolicy:
    version: str
    working_hours: WorkingHours = field(default_factory=WorkingHours)
    # The working calendar in force (docs/rules.md §9): versioned data of its own, recorded per decision.
    calendar: WorkingCalendar = field(default_factory=default_calendar, compare=False, repr=False)
    # DSP-ARRIVE: (up to and including km, calendar hours); beyond the last tier → `arrive_beyond_hours`.
    arrive_tiers: tuple[tuple[float, float], ...] = ((300.0, 24.0), (1000.0, 48.0))
    arrive_beyond_hours: float = 72.0
    report_working_days: int = 3  # DSP-REPORT-3WD
    audit_working_days: int = 5  # DSP-AUDIT-5WD
    followup_months: int = 3  # DSP-FOLLOWUP: once a quarter
    # DSP-FOLLOWUP: how many follow-ups after a service; None: no end (dispatch-2026.2, 001 §8.1 names none).
    followup_count: int | None = 4
    fine_audit_late_per_day_fen: int = 5_000  # FIN-AUDIT-LATE
    # FIN-AUDIT-LATE when nobody was recorded as the auditor (docs/rules.md §9): the head of technical
    # quality. None (dispatch-2026.1): the fine went to whoever classified the fault.
    tq_head_id: str | None = None
    # DSP-SERVICE-FAULT: what makes a complaint the service's own responsibility (docs/rules.md §9).
    service_fault_grounds: tuple[str, ...] = ("late", "rude", "repeat_repair", "unapproved_charge")
    ranged_fines_fen: Mapping[str, tuple[int, int]] = field(  # FIN-RETURN-UNAPPROVED, FIN-FORM-FALSIFIED
        default_factory=lambda: MappingProxyType(
            {"FIN-RETURN-UNAPPROVED": (5_000, 50_000), "FIN-FORM-FALSIFIED": (5_000, 50_000)}
        )
    )
    escalation_ack_hours: float = 24.0  # unacknowledged for this long → next level up
    escalation_chain: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({"branch_manager": "management", "deputy_gm": "management"})
    )


BOOK: Rulebook[DispatchPolicy] = Rulebook(DispatchPolicy(version="dispatch-2026.1"))
# docs/rules.md §9: FIN-AUDIT-LATE to the recorded auditor, else the head of technical quality; follow-ups
# every quarter with no end (001 §8.1).
BOOK.register_policy(DispatchPolicy(version="dispatch-2026.2", followup_count=None, tq_head_id="tq-head"))
BOOK.current_version = "dispatch-2026.2"
POLICIES: Mapping[str, DispatchPolicy] = BOOK.policies
CURRENT_VERSION = BOOK.current_version
RULES = BOOK.rules
rule = BOOK.rule
decide = BOOK.decide
evaluate = BOOK.evaluate
register_policy = BOOK.register_policy


def current_policy() -> DispatchPolicy:
    return BOOK.current()


def _time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def _iso(value: dt.datetime) -> str:
    return value.isoformat()


# ------------------------------------------------------------------------------------ dispatch §3


@rule("DSP-ARRIVE")
def arrival_deadline(policy: DispatchPolicy, inputs: Inputs) -> Outputs:
    """Arrival on site from receipt, by distance: ≤ 300 km 24 h, ≤ 1000 km 48 h, beyond 72 h
    (calendar hours, inclusive boundaries; 001 §5.1.1.3, 004 §4.1.1.3). Unknown distance → the
    farthest tier."""
    distance = inputs["distance_km"]
    hours = policy.arrive_beyond_hours
    if distance is not None:
        for limit_km, tier_hours in policy.arrive_tiers:
            if float(distance) <= limit_km:
                hours = tier_hours
                break
    due = _time(inputs["received_at"]) + dt.timedelta(hours=hours)
    return {"due_at": _iso(due), "hours": hours}


@rule("DSP-FEE-CONSENT")
def fee_consent(policy: DispatchPolicy, inputs: Inputs) -> Outputs:
    """Out of warranty or misuse: the customer confirms plan and fee before dispatch; a refusal
    needs the deputy general manager's approval (001 §5.2.5, §6.2.4)."""
    required = bool(inputs["fee_consent_required"])
    consent = inputs.get("consent")  # None (not asked yet) | "accepted" | "refused"
    approved = bool(inputs.get("deputy_gm_approved"))
    may_dispatch = not required or consent == "accepted" or (consent == "refused" and approved)
    return {
        "consent_required": required,
        "may_dispatch": may_dispatch,
        "needs_approval_by": "deputy_gm" if required and consent == "refused" and not approved else None,
    }


@rule("DSP-ASSIGN")
def assign_engineer(policy: DispatchPolicy, inputs: Inputs) -> Outputs:
    """An available engineer with the skill for the product, from the nearest region (the site's
    own region before any other), with the lightest load; ties by engineer id (003, 000 篇二).
    A customer unhappy with an engineer gets another: `excluded` engineers are never chosen."""
    model = (inputs.get("model") or "").strip().upper()
    region = inputs.get("region")
    excluded = set(inputs.get("excluded", []))
    candidates: list[tuple[int, int, str]] = []
    for engineer in inputs["engineers"]:
        skills = {s.strip().upper() for s in engineer["skills"]}
        if not engineer["available"] or engineer["engineer_id"] in excluded or model not in skills:
            continue
        candidates.append((0 if engineer["region"] == region else 1, int(engineer["load"]), engineer["engineer_id"]))
    if not candidates:
        return {"engineer_id": None, "reason": f"no available engineer with skill {model or '?'}"}
    nearness, load, engineer_id = min(candidates)
    return {"engineer_id": engineer_id, "same_region": nearness == 0, "load": load}


@rule("DSP-FORM")
def service_form(policy: DispatchPolicy, inputs: Inputs) -> Outputs:
    """The technical service form records the work, every part (material code, quantity, unit
    price), the customer's rating and signature; a signature before the service started, or a
    service started before arrival, is invalid (001 §6.2.5–6.2.6, 004 §3.3.2)."""
    problems: list[str] = []
    started, signed = _time(inputs["started_at"]), _time(inputs["signed_at"])
    if signed < started:
        problems.append(f"signature time {inputs['signed_at']} is before the service started ({inputs['started_at']})")
    if inputs.get("arrived_at") is not None and started < _time(inputs["arrived_at"]):
        problems.append(f"service started {inputs['started_at']} before arrival ({inputs['arrived_at']})")
    if not str(inputs.get("work") or "").strip():
        problems.append("the work done is missing")
    if not 1 <= int(inputs["rating"]) <= 5:
        problems.append("rating must be 1–5")
    for index, part in enumerate(inputs["parts"]):
        if not str(part.get("material_code") or "").strip():
            problems.append(f"part {index + 1}: material code missing")
        if int(part.get("quantity") or 0) <= 0:
            problems.append(f"part {index + 1}: quantity must be positive")
        if int(part.get("unit_price_fen", -1)) < 0:
            problems.append(f"part {index + 1}: unit price missing")
    total = sum(int(p.get("quantity") or 0) * int(p.get("unit_price_fen") or 0) for p in inputs["parts"])
    return {"valid": not problems, "problems": problems, "parts_total_fen": total}


@rule("DSP-RETURN-APPROVAL")
def return_approval(policy: DispatchPolicy, inputs: Inputs) -> Outputs:
    """The engineer leaves the site only after the technical-quality department approved (001 §6.2.6)."""
    return {"approved": inputs["approved_at"] is not None, "left_without_approval": inputs["approved_at"] is None}


@rule("DSP-REPORT-3WD", calendar=True)
def report_deadline(policy: DispatchPolicy, inputs: Inputs) -> Outputs:
    """The written report (form, expense claim, returned materials, payments collected) within
    3 working days of returning: by the close of the 3rd working day after (001 §6.2.7)."""
    returned = _time(inputs["returned_at"])
    due = end_of_working_days(policy.calendar, returned, policy.report_working_days, policy.working_hours)
    return {"due_at": _iso(due), "working_days": policy.report_working_days}


@rule("DSP-AUDIT-5WD", calendar=True)
def audit_deadline(policy: DispatchPolicy, inputs: Inputs) -> Outputs:
    """The technical-quality department confirms quality and the rating, then audits the costs,
    within 5 working days of the report: by the close of the 5th working day after (001 §6.2.8)."""
    reported = _time(inputs["reported_at"])
    due = end_of_working_days(policy.calendar, reported, policy.audit_working_days, policy.working_hours)
    return {"due_at": _iso(due), "working_days": policy.audit_working_days}


def add_months(day: dt.date, months: int) -> dt.date:
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return dt.date(year, month, min(day.day, (following - dt.timedelta(days=1)).day))


@rule("DSP-FOLLOWUP")
def followup(policy: DispatchPolicy, inputs: Inputs) -> Outputs:
    """A phone follow-up once a quarter after the service: the `quarter`-th is due that many
    quarters (`followup_months` each) after the service date, at the start of the day (001 §8.1).
    `last` says no further one follows: after `followup_count` of them, or never when it is None."""
    quarter = int(inputs["quarter"])
    served_on = _time(inputs["served_at"]).astimezone(CHINA).date()
    on = add_months(served_on, policy.followup_months * quarter)
    due = dt.datetime.combine(on, policy.working_hours.start, tzinfo=CHINA)
    last = policy.followup_count is not None and quarter >= policy.followup_count
    return {"due_at": _iso(due), "quarter": quarter, "last": last}


@rule("DSP-SERVICE-FAULT")
def service_fault(policy: DispatchPolicy, inputs: Inputs) -> Outputs:
    """tq's finding on whether a complaint is the service's own responsibility (用户抱怨率（确属服务
    责任的）, 004 公司售后服务管理制度 §3.2.1; docs/rules.md §9): late, rude, the same problem repaired
    again, or a charge that was not approved. Only a confirmed finding on one of those grounds counts
    towards the KPI; fines play no part."""
    at_fault = bool(inputs["at_fault"])
    ground = inputs.get("ground")
    valid = not at_fault or ground in policy.service_fault_grounds
    return {"service_at_fault": at_fault and valid, "ground": ground if at_fault else None, "valid": valid,
            "grounds": list(policy.service_fault_grounds)}  # fmt: skip


# -------------------------------------------------------------------------------------- fines §4


@rule("FIN-AUDIT-LATE", calendar=True)
def audit_late_fine(policy: DispatchPolicy, inputs: Inputs) -> Outputs:
    """DSP-AUDIT-5WD missed: 50 yuan per working day late, to the auditor (001 §6.2.8). One fine
    per late working day; the next one falls due when the next working day begins.

    From dispatch-2026.2 (docs/rules.md §9) the person is the `auditor` recorded when the audit started,
    or, when nobody was, the head of technical quality (`tq_head_id`). dispatch-2026.1 fined whoever
    classified the fault: `classified_by`, recorded as `auditor` by decisions taken before audits had
    an auditor of their own."""
    due = _time(inputs["due_at"])
    day = int(inputs["day"])
    outputs: dict[str, Any] = {
        "amount_fen": policy.fine_audit_late_per_day_fen,
        "person": inputs.get("classified_by", inputs["auditor"]),
        "role": "tq",
        "day": day,
        "late_since": _iso(late_day_start(policy.calendar, due, day, policy.working_hours)),
        "next_day_at": _iso(late_day_start(policy.calendar, due, day + 1, policy.working_hours)),
    }
    if policy.tq_head_id is not None:  # dispatch-2026.2
        assigned = inputs["auditor"] is not None
        outputs.update(person=inputs["auditor"] if assigned else policy.tq_head_id, auditor_assigned=assigned)
    return outputs


def _ranged_fine(rule_id: str, policy: DispatchPolicy, inputs: Inputs) -> Outputs:
    low, high = policy.ranged_fines_fen[rule_id]
    amount = int(inputs["amount_fen"])
    return {"amount_fen": amount, "person": inputs["person"], "role": inputs.get("role", "engineer"),
            "within_range": low <= amount <= high, "min_fen": low, "max_fen": high}  # fmt: skip


@rule("FIN-RETURN-UNAPPROVED")
def return_unapproved_fine(policy: DispatchPolicy, inputs: Inputs) -> Outputs:
    """Left the site without approval (DSP-RETURN-APPROVAL) causing extra cost: 50–500 yuan by
    severity, chosen by a manager with a reason (001 §6.2.6)."""
    return _ranged_fine("FIN-RETURN-UNAPPROVED", policy, inputs)


@rule("FIN-FORM-FALSIFIED")
def form_falsified_fine(policy: DispatchPolicy, inputs: Inputs) -> Outputs:
    """A falsified service form: 50–500 yuan, chosen by a manager with a reason (001 §6.2.9)."""
    return _ranged_fine("FIN-FORM-FALSIFIED", policy, inputs)


RANGED_FINES = ("FIN-RETURN-UNAPPROVED", "FIN-FORM-FALSIFIED")


# -------------------------------------------------------------------------------- escalations §4


@rule("ESC-CHAIN")
def escalation_step(policy: DispatchPolicy, inputs: Inputs) -> Outputs:
    """An escalation unacknowledged for `escalation_ack_hours` goes one level up the chain
    (branch manager → management; deputy GM → management). Management is the top."""
    upper = policy.escalation_chain.get(inputs["to"])
    due = _time(inputs["raised_at"]) + dt.timedelta(hours=policy.escalation_ack_hours)
    return {"next": upper, "due_at": _iso(due) if upper else None, "hours": policy.escalation_ack_hours}


def lightest_candidates(engineers: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The roster as DSP-ASSIGN inputs (JSON-able, sorted for a stable record)."""
    return sorted(
        ({"engineer_id": e["engineer_id"], "region": e["region"], "skills": sorted(e["skills"]),
          "load": int(e["load"]), "available": bool(e["available"])} for e in engineers),
        key=lambda e: e["engineer_id"],
    )  # fmt: skip
