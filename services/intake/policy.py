"""Intake rules of docs/rules.md §1–2 (and FIN-RELAY-LATE, FIN-RECORD-INCOMPLETE) as pure functions.

Every rule is registered under its rule id as `rule(policy, inputs) -> outputs`, where inputs and
outputs are JSON-able. A decision event records the rule id, the policy version, the inputs and the
outputs; `evaluate` re-runs the same rule of the same policy version on the same inputs, which is
what a replay checks. Numbers live in `IntakePolicy`, one frozen value per version: a change of
regulation is a new version, never an edit of an old one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from shared.events.decisions import Inputs, Outputs, Rulebook
from shared.events.telephony import ComplaintReceivedV1
from shared.workcal import CHINA, WorkingCalendar, WorkingHours, add_working_hours, default_calendar


@dataclass(frozen=True)
class IntakePolicy:
    version: str
    working_hours: WorkingHours = field(default_factory=WorkingHours)
    # The working calendar in force (docs/rules.md §9): versioned data of its own, recorded per decision.
    calendar: WorkingCalendar = field(default_factory=default_calendar, compare=False, repr=False)
    relay_working_hours: float = 4.0  # INT-RELAY-4WH
    reply_working_hours: float = 8.0  # INT-REPLY-8WH
    first_response_hours: Mapping[str, float] = field(  # INT-LEVELS (calendar hours)
        default_factory=lambda: MappingProxyType({"1": 2.0, "2": 4.0, "3": 24.0, "4": 24.0, "consultation": 48.0})
    )
    warranty_months: int = 12  # WAR-PERIOD
    extension_days: int = 60  # WAR-EXTEND-60D
    lemon_failed_repairs: int = 2  # WAR-LEMON
    loaner_over_repair_hours: float = 12.0  # WAR-LOANER
    max_repair_days: int = 12  # WAR-LOANER
    expiry_notice_days: int = 10  # WAR-EXPIRY-NOTICE
    fine_relay_late_fen: int = 5_000  # FIN-RELAY-LATE
    fine_record_incomplete_fen: int = 5_000  # FIN-RECORD-INCOMPLETE
    # intake-2026.2 (issue 13, docs/rules.md §9). All False in intake-2026.1, whose decisions must
    # re-run unchanged: each rule branches on these, it never changes what an old version computes.
    first_response_is_contact: bool = False
    """INT-LEVELS: only a recorded contact with the customer meets the first response; a level-1
    fault goes to management at classification and its breach is not escalated again."""
    fine_person_may_be_unknown: bool = False
    """FIN-*: a fine whose person is not known is recorded as unattributed (`unattributed: true`)."""
    record_fine_needs_incomplete_record: bool = False
    """FIN-RECORD-INCOMPLETE: only for a record that was in fact incomplete, with extra cost > 0."""
    receiver_required: bool = False
    """INT-REQUIRED: a call without `agent_id` (the receiver) is flagged incomplete."""


FIRST_VERSION = IntakePolicy(version="intake-2026.1")
ISSUE_13_VERSION = IntakePolicy(
    version="intake-2026.2",
    first_response_is_contact=True,
    fine_person_may_be_unknown=True,
    record_fine_needs_incomplete_record=True,
    receiver_required=True,
)
BOOK: Rulebook[IntakePolicy] = Rulebook(FIRST_VERSION)
BOOK.register_policy(ISSUE_13_VERSION)
BOOK.current_version = ISSUE_13_VERSION.version
POLICIES: Mapping[str, IntakePolicy] = BOOK.policies
CURRENT_VERSION = BOOK.current_version
RULES = BOOK.rules
rule = BOOK.rule
decide = BOOK.decide
evaluate = BOOK.evaluate
register_policy = BOOK.register_policy


def current_policy() -> IntakePolicy:
    return BOOK.current()


def _time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def _iso(value: dt.datetime) -> str:
    return value.isoformat()


def china_date(moment: dt.datetime) -> dt.date:
    return moment.astimezone(CHINA).date()


# ------------------------------------------------------------------------------------ intake §1


def register_number(sequence: int, received_at: dt.datetime) -> str:
    """INT-REGISTER: 客户投诉编号 `TS-<year>-<8-digit sequence>`; the sequence is never reused.

    The year is that of receipt (China time), and each year's sequence starts again at 1."""
    return register_number_in(china_date(received_at).year, sequence)


def register_number_in(year: int, sequence: int) -> str:
    return f"TS-{year}-{sequence:08d}"


REQUIRED_FIELDS = (
    "customer.name", "customer.phone", "equipment.model", "equipment.serial", "description", "site.region",
)  # fmt: skip
RECEIVER_FIELD = "agent_id"


def required_fields(policy: IntakePolicy) -> tuple[str, ...]:
    """INT-REQUIRED under `policy`: from intake-2026.2 the receiver (`agent_id`) too (docs/rules.md §9)."""
    return (*REQUIRED_FIELDS, RECEIVER_FIELD) if policy.receiver_required else REQUIRED_FIELDS


def missing_fields(call: ComplaintReceivedV1, policy: IntakePolicy | None = None) -> list[str]:
    """INT-REQUIRED: what a complaint lacks; anything missing flags the record incomplete.

    The site needs a region and either the distance from the nearest base or coordinates.
    An unknown acceptance date is not "missing" here: WAR-PERIOD leaves warranty undetermined.
    From intake-2026.2 a call without its receiver (`agent_id`) is incomplete as well: a fine for
    the receiver (FIN-RELAY-LATE) would otherwise be charged to nobody.
    """
    values: dict[str, str | None] = {
        "customer.name": call.customer.name,
        "customer.phone": call.customer.phone,
        "equipment.model": call.equipment.model,
        "equipment.serial": call.equipment.serial,
        "description": call.description,
        "site.region": call.site.region,
    }
    missing = [name for name in REQUIRED_FIELDS if not (values[name] or "").strip()]
    if call.site.distance_km is None and (call.site.lat is None or call.site.lon is None):
        missing.append("site.distance_km")
    if (policy or current_policy()).receiver_required and not (call.agent_id or "").strip():
        missing.append(RECEIVER_FIELD)
    return missing


@rule("INT-RELAY-4WH", calendar=True)
def relay_deadline(policy: IntakePolicy, inputs: Inputs) -> Outputs:
    """Relay to the technical-quality department within 4 working hours of receipt (001 §6.1.3)."""
    received = _time(inputs["received_at"])
    due = add_working_hours(policy.calendar, received, policy.relay_working_hours, policy.working_hours)
    return {"due_at": _iso(due), "working_hours": policy.relay_working_hours}


@rule("INT-REPLY-8WH", calendar=True)
def reply_deadline(policy: IntakePolicy, inputs: Inputs) -> Outputs:
    """Answer a consultation, or decide a fault's solution, within 8 working hours (001 §6.2.1–2)."""
    received = _time(inputs["received_at"])
    due = add_working_hours(policy.calendar, received, policy.reply_working_hours, policy.working_hours)
    return {"due_at": _iso(due), "working_hours": policy.reply_working_hours}


@rule("INT-LEVELS")
def first_response_deadline(policy: IntakePolicy, inputs: Inputs) -> Outputs:
    """First response in calendar hours from receipt: level 1 ≤ 2 h, 2 ≤ 4 h, 3–4 ≤ 24 h,
    consultation ≤ 48 h (000 篇二, 003 模板 §六). Level 1 escalates to management at once."""
    key = "consultation" if inputs["kind"] == "consultation" else str(inputs["level"])
    hours = policy.first_response_hours[key]
    due = _time(inputs["received_at"]) + dt.timedelta(hours=hours)
    outputs: Outputs = {"due_at": _iso(due), "hours": hours, "escalate_to_management": key == "1"}
    if policy.first_response_is_contact:
        # docs/rules.md §4, §9: met by a recorded contact with the customer; a missed first response
        # goes to the branch manager, but a level-1 fault is with management already (at classification).
        outputs["met_by"] = "customer_contact"
        outputs["on_breach_escalate_to"] = None if key == "1" else "branch_manager"
    return outputs


# ---------------------------------------------------------------------------------- warranty §2


def add_months(day: dt.date, months: int) -> dt.date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    next_month = dt.date(year + month // 12, month % 12 + 1, 1)
    last_day = (next_month - dt.timedelta(days=1)).day
    return dt.date(year, month, min(day.day, last_day))


@rule("WAR-PERIOD")
def warranty_period(policy: IntakePolicy, inputs: Inputs) -> Outputs:
    """Warranty from acceptance for the contracted months (default 12); `until` is the last covered
    day; extensions add days to `until`. Unknown acceptance date → undetermined (002 §11(1))."""
    acceptance = inputs["acceptance_date"]
    if acceptance is None:
        return {"in_warranty": None, "until": None}
    months = inputs.get("months") or policy.warranty_months
    until = add_months(dt.date.fromisoformat(acceptance), months) - dt.timedelta(days=1)
    until += dt.timedelta(days=int(inputs.get("extension_days", 0)))
    on = dt.date.fromisoformat(inputs["on"])
    return {"in_warranty": on <= until, "until": until.isoformat()}


@rule("WAR-PAYER")
def payer(policy: IntakePolicy, inputs: Inputs) -> Outputs:
    """Who pays (WAR-FREE, WAR-MISUSE, WAR-OUT): the rule applied is in the outputs."""
    in_warranty, cause = inputs["in_warranty"], inputs["cause"]
    if in_warranty is None:
        return {"applies": None, "payer": None, "fee_consent_required": None}
    if in_warranty and cause == "quality":
        return {"applies": "WAR-FREE", "payer": "company", "fee_consent_required": False}
    if in_warranty:
        return {"applies": "WAR-MISUSE", "payer": "customer", "fee_consent_required": True}
    return {"applies": "WAR-OUT", "payer": "customer", "fee_consent_required": True}


@rule("WAR-EXTEND-60D")
def extension(policy: IntakePolicy, inputs: Inputs) -> Outputs:
    """In warranty, a fault that cannot be removed and stops the customer's work: +60 days (002 item 7)."""
    applies = bool(inputs["in_warranty"]) and not inputs["fault_removed"] and bool(inputs["stops_work"])
    return {"extend": applies, "days": policy.extension_days if applies else 0}


@rule("WAR-LEMON")
def replacement(policy: IntakePolicy, inputs: Inputs) -> Outputs:
    """In warranty, the same quality problem after two consecutive failed repairs: replace free by a
    new unit of the same brand and model (002 item 8)."""
    outcomes: list[str] = list(inputs["outcomes_of_same_problem"])
    tail = outcomes[-policy.lemon_failed_repairs :]
    replace = (
        bool(inputs["in_warranty"])
        and inputs["cause"] == "quality"
        and len(tail) == policy.lemon_failed_repairs
        and all(outcome == "failed" for outcome in tail)
    )
    return {"replace": replace, "consecutive_failed": len(tail) if replace else _trailing_failed(outcomes)}


def _trailing_failed(outcomes: list[str]) -> int:
    count = 0
    for outcome in reversed(outcomes):
        if outcome != "failed":
            break
        count += 1
    return count


@rule("WAR-LOANER")
def loaner(policy: IntakePolicy, inputs: Inputs) -> Outputs:
    """A repair expected to take more than 12 hours gets a free loaner; repair takes at most 12 days."""
    provide = float(inputs["expected_repair_hours"]) > policy.loaner_over_repair_hours
    repair_due = _time(inputs["decided_at"]) + dt.timedelta(days=policy.max_repair_days)
    return {"loaner": provide, "repair_due_at": _iso(repair_due)}


@rule("WAR-EXPIRY-NOTICE")
def expiry_notice(policy: IntakePolicy, inputs: Inputs) -> Outputs:
    """Notify the customer in writing 10 days before the warranty expires (002 §15(4), §16(10))."""
    until = dt.date.fromisoformat(inputs["until"])
    notice_on = until - dt.timedelta(days=policy.expiry_notice_days)
    at = dt.datetime.combine(notice_on, policy.working_hours.start, tzinfo=CHINA)
    return {"notice_at": _iso(at), "days_before": policy.expiry_notice_days}


# -------------------------------------------------------------------------------------- fines §4


def _to_person(policy: IntakePolicy, outputs: Outputs) -> Outputs:
    """From intake-2026.2 a fine says whether its person is known; the branch manager attributes an
    unattributed one later (docs/rules.md §9)."""
    if policy.fine_person_may_be_unknown:
        outputs["unattributed"] = not (outputs["person"] or "").strip()
    return outputs


@rule("FIN-RELAY-LATE")
def relay_late_fine(policy: IntakePolicy, inputs: Inputs) -> Outputs:
    """INT-RELAY-4WH missed: 50 yuan per occurrence, to the receiver (001 §6.1.4)."""
    return _to_person(policy, {"amount_fen": policy.fine_relay_late_fen, "person": inputs["receiver"], "role": "agent"})


@rule("FIN-RECORD-INCOMPLETE")
def record_incomplete_fine(policy: IntakePolicy, inputs: Inputs) -> Outputs:
    """A record unclear or incomplete that caused extra service cost: 50 yuan per record (001 §6.1.5).

    From intake-2026.2 (docs/rules.md §9) only a record that was in fact incomplete (`missing_fields`:
    what it lacked when received), only with the extra service cost it caused (`extra_cost_fen` > 0),
    and at most once per record (`levied_before`: such fines on the record already); otherwise
    `levy` is false and `refused` says why."""
    outputs: Outputs = {"amount_fen": policy.fine_record_incomplete_fen, "person": inputs["receiver"], "role": "agent"}
    if not policy.record_fine_needs_incomplete_record:
        return outputs
    refused = None
    if int(inputs.get("levied_before", 0)) > 0:
        refused = "FIN-RECORD-INCOMPLETE is levied at most once per complaint record"
    elif not inputs.get("missing_fields"):
        refused = "the record was complete when received: FIN-RECORD-INCOMPLETE does not apply"
    elif int(inputs.get("extra_cost_fen") or 0) <= 0:
        refused = "no extra service cost was caused: FIN-RECORD-INCOMPLETE does not apply"
    if refused is not None:
        return {"levy": False, "refused": refused, "amount_fen": 0, "person": inputs["receiver"], "role": "agent"}
    return _to_person(policy, {**outputs, "levy": True})
