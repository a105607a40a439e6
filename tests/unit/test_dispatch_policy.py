"""Dispatch rules (docs/rules.md §3 DSP-*) and fines and escalations (§4 FIN-*) as pure functions, with
their boundaries; and the case aggregate's decisions as given / when / then."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest

from services.dispatch.domain import Case, CommandRejected
from services.dispatch.policy import (
    POLICIES,
    RULES,
    current_policy,
    decide,
    evaluate,
)
from shared.events.decisions import Actor
from shared.events.dispatch_events import FineReversed, PartsReplaced
from shared.security.duties import SeparationOfDuties
from shared.workcal import CHINA, late_day_start, working_days_late

P = current_policy()
RULES_DOC = Path(__file__).resolve().parents[2] / "docs" / "rules.md"
RECEIVED = "2026-11-23T09:15:00+08:00"  # a Monday


def cn(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=CHINA)


# ------------------------------------------------------------------------------------ the rulebook


def test_every_dispatch_and_fine_rule_of_the_rulebook_is_implemented() -> None:
    from services.intake.policy import RULES as INTAKE_RULES
    from services.parts.policy import RULES as PARTS_RULES

    ids = set(re.findall(r"^\| ((?:DSP|FIN)-[A-Z0-9-]+) \|", RULES_DOC.read_text(encoding="utf-8"), re.MULTILINE))
    assert ids >= {"DSP-ARRIVE", "DSP-FEE-CONSENT", "DSP-ASSIGN", "DSP-FORM", "DSP-RETURN-APPROVAL",
                   "DSP-REPORT-3WD", "DSP-AUDIT-5WD", "DSP-FOLLOWUP", "FIN-RELAY-LATE", "FIN-RECORD-INCOMPLETE",
                   "FIN-RETURN-UNAPPROVED", "FIN-AUDIT-LATE", "FIN-FORM-FALSIFIED", "FIN-PART-LATE"}  # fmt: skip
    assert ids <= set(RULES) | set(INTAKE_RULES) | set(PARTS_RULES)
    assert {i for i in ids if i.startswith("DSP-")} <= set(RULES)


# ---------------------------------------------------------------------------------------- DSP-ARRIVE


@pytest.mark.parametrize(
    ("distance_km", "hours", "due_at"),
    [
        (0.0, 24, "2026-11-24T09:15:00+08:00"),
        (300.0, 24, "2026-11-24T09:15:00+08:00"),
        (300.4, 48, "2026-11-25T09:15:00+08:00"),
        (301.0, 48, "2026-11-25T09:15:00+08:00"),
        (800.0, 48, "2026-11-25T09:15:00+08:00"),
        (1000.0, 48, "2026-11-25T09:15:00+08:00"),
        (1001.0, 72, "2026-11-26T09:15:00+08:00"),
        (None, 72, "2026-11-26T09:15:00+08:00"),
    ],
)
def test_dsp_arrive_tiers_are_inclusive_calendar_hours(distance_km: float | None, hours: int, due_at: str) -> None:
    outputs = evaluate("DSP-ARRIVE", P.version, {"received_at": RECEIVED, "distance_km": distance_km})
    assert outputs == {"due_at": due_at, "hours": hours}


# ---------------------------------------------------------------------------------- DSP-FEE-CONSENT


@pytest.mark.parametrize(
    ("required", "consent", "approved", "may_dispatch", "needs"),
    [
        (False, None, False, True, None),  # WAR-FREE: no consent needed
        (True, None, False, False, None),  # quoted, waiting for the customer
        (True, "accepted", False, True, None),
        (True, "refused", False, False, "deputy_gm"),
        (True, "refused", True, True, None),
    ],
)
def test_dsp_fee_consent(required: bool, consent: str | None, approved: bool, may_dispatch: bool, needs: str) -> None:
    outputs = evaluate("DSP-FEE-CONSENT", P.version, {"fee_consent_required": required, "consent": consent,
                                                      "deputy_gm_approved": approved})  # fmt: skip
    assert outputs["may_dispatch"] is may_dispatch
    assert outputs["needs_approval_by"] == needs


# --------------------------------------------------------------------------------------- DSP-ASSIGN


def engineer(engineer_id: str, region: str, load: int, skills: tuple[str, ...] = ("QY25K",),
             available: bool = True) -> dict[str, Any]:  # fmt: skip
    return {"engineer_id": engineer_id, "region": region, "skills": list(skills), "load": load, "available": available}


def assign(engineers: list[dict[str, Any]], excluded: tuple[str, ...] = ()) -> Any:
    return evaluate("DSP-ASSIGN", P.version, {"region": "四川", "model": "qy25k", "engineers": engineers,
                                             "excluded": list(excluded)})["engineer_id"]  # fmt: skip


def test_dsp_assign_prefers_the_nearest_region_then_the_lightest_load() -> None:
    roster = [engineer("e-far", "重庆", 0), engineer("e-busy", "四川", 3), engineer("e-light", "四川", 1)]
    assert assign(roster) == "e-light"
    assert assign(roster[:2]) == "e-busy"  # same region beats a lighter load elsewhere
    assert assign([engineer("b", "四川", 1), engineer("a", "四川", 1)]) == "a"  # ties by id, stable


def test_dsp_assign_needs_skill_and_availability_and_honours_a_customer_complaint() -> None:
    assert assign([engineer("e1", "四川", 0, skills=("SY365",)), engineer("e2", "重庆", 5)]) == "e2"
    assert assign([engineer("e1", "四川", 0, available=False), engineer("e2", "重庆", 5)]) == "e2"
    assert assign([engineer("e1", "四川", 0), engineer("e2", "重庆", 5)], excluded=("e1",)) == "e2"
    assert assign([engineer("e1", "四川", 0)], excluded=("e1",)) is None


# ----------------------------------------------------------------------------------------- DSP-FORM


def form(**overrides: Any) -> dict[str, Any]:
    inputs: dict[str, Any] = {
        "work": "更换密封件", "problem": "主臂伸缩油缸漏油", "outcome": "fixed", "stops_work": False,
        "arrived_at": "2026-11-24T10:00:00+08:00", "started_at": "2026-11-24T10:30:00+08:00",
        "finished_at": "2026-11-24T15:00:00+08:00", "signed_at": "2026-11-24T15:10:00+08:00", "signed_by": "王工",
        "rating": 5, "parts": [{"material_code": "M-001", "quantity": 2, "unit_price_fen": 12_550}],
    }  # fmt: skip
    inputs.update(overrides)
    return inputs


def test_dsp_form_valid_form_totals_its_parts() -> None:
    assert evaluate("DSP-FORM", P.version, form()) == {"valid": True, "problems": [], "parts_total_fen": 25_100}


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"signed_at": "2026-11-24T10:29:59+08:00"}, "signature time"),
        ({"started_at": "2026-11-24T09:59:00+08:00", "signed_at": "2026-11-24T15:10:00+08:00"}, "before arrival"),
        ({"work": " "}, "work done"),
        ({"parts": [{"material_code": "", "quantity": 1, "unit_price_fen": 1}]}, "material code"),
        ({"parts": [{"material_code": "M", "quantity": 0, "unit_price_fen": 1}]}, "quantity"),
    ],
)
def test_dsp_form_rejects_an_invalid_form(overrides: dict[str, Any], problem: str) -> None:
    outputs = evaluate("DSP-FORM", P.version, form(**overrides))
    assert outputs["valid"] is False
    assert problem in "; ".join(outputs["problems"])


def test_dsp_form_signature_at_the_very_start_is_valid() -> None:
    assert evaluate("DSP-FORM", P.version, form(signed_at="2026-11-24T10:30:00+08:00"))["valid"] is True


# ---------------------------------------------------------------------------- DSP-RETURN-APPROVAL


def test_dsp_return_approval() -> None:
    approved = evaluate("DSP-RETURN-APPROVAL", P.version, {"approved_at": "2026-11-24T15:20:00+08:00"})
    assert approved == {"approved": True, "left_without_approval": False}
    assert evaluate("DSP-RETURN-APPROVAL", P.version, {"approved_at": None})["left_without_approval"] is True


# -------------------------------------------------------------------- DSP-REPORT-3WD, DSP-AUDIT-5WD


@pytest.mark.parametrize(
    ("returned_at", "due_at"),
    [
        ("2026-11-23T16:00:00+08:00", "2026-11-26T17:00:00+08:00"),  # Mon → Thu
        ("2026-11-27T20:00:00+08:00", "2026-12-02T17:00:00+08:00"),  # Fri evening → Wed (weekend skipped)
        ("2026-09-30T12:00:00+08:00", "2026-10-10T17:00:00+08:00"),  # Oct 1–7 off; Sat 10 Oct a make-up day
    ],
)
def test_dsp_report_3wd_counts_china_working_days(returned_at: str, due_at: str) -> None:
    assert evaluate("DSP-REPORT-3WD", P.version, {"returned_at": returned_at})["due_at"] == due_at


def test_dsp_audit_5wd_counts_china_working_days() -> None:
    outputs = evaluate("DSP-AUDIT-5WD", P.version, {"reported_at": "2026-11-24T10:00:00+08:00"})  # Tue
    assert outputs == {"due_at": "2026-12-01T17:00:00+08:00", "working_days": 5}


# ------------------------------------------------------------------------------------ DSP-FOLLOWUP


def test_dsp_followup_once_a_quarter() -> None:
    first = evaluate("DSP-FOLLOWUP", P.version, {"served_at": "2026-11-30T15:00:00+08:00", "quarter": 1})
    assert first == {"due_at": "2027-02-28T08:30:00+08:00", "quarter": 1, "last": False}
    fourth = evaluate("DSP-FOLLOWUP", "dispatch-2026.1", {"served_at": "2026-11-30T15:00:00+08:00", "quarter": 4})
    assert fourth["due_at"] == "2027-11-30T08:30:00+08:00"
    assert fourth["last"] is True  # dispatch-2026.1 stopped after 4 quarters


def test_dsp_followup_goes_on_every_quarter_without_end_from_2026_2() -> None:
    # 001 §8.1: after delivery, tq calls the customer regularly, in principle once a quarter; no end is named.
    served = {"served_at": "2026-11-30T15:00:00+08:00"}
    fourth = evaluate("DSP-FOLLOWUP", "dispatch-2026.2", {**served, "quarter": 4})
    assert fourth == {"due_at": "2027-11-30T08:30:00+08:00", "quarter": 4, "last": False}
    fifth = evaluate("DSP-FOLLOWUP", "dispatch-2026.2", {**served, "quarter": 5})
    assert fifth == {"due_at": "2028-02-29T08:30:00+08:00", "quarter": 5, "last": False}  # leap day in 2028
    assert evaluate("DSP-FOLLOWUP", "dispatch-2026.2", {**served, "quarter": 40})["due_at"].startswith("2036-11-30")


# -------------------------------------------------------------------------------------- FIN-AUDIT-LATE

DUE = cn(2026, 12, 1, 17, 0)  # Tue close


@pytest.mark.parametrize(
    ("done", "days"),
    [
        (cn(2026, 12, 1, 17, 0), 0),
        (cn(2026, 12, 1, 23, 59), 0),  # after hours the same day: not a working day late yet
        (cn(2026, 12, 2, 8, 29), 0),
        (cn(2026, 12, 2, 8, 30), 1),
        (cn(2026, 12, 4, 16, 0), 3),
        (cn(2026, 12, 6, 12, 0), 3),  # the weekend adds nothing
        (cn(2026, 12, 7, 8, 30), 4),
    ],
)
def test_fin_audit_late_counts_working_days_late(done: dt.datetime, days: int) -> None:
    assert working_days_late(P.calendar, DUE, done, P.working_hours) == days


def test_fin_audit_late_is_50_yuan_per_working_day_to_the_auditor() -> None:
    inputs = {"due_at": DUE.isoformat(), "day": 3, "auditor": "tq-003"}
    outputs = evaluate("FIN-AUDIT-LATE", P.version, inputs)
    assert outputs["amount_fen"] == 5_000
    assert (outputs["person"], outputs["role"]) == ("tq-003", "tq")
    assert outputs["late_since"] == "2026-12-04T08:30:00+08:00"
    assert outputs["next_day_at"] == "2026-12-07T08:30:00+08:00"  # Friday → Monday
    assert late_day_start(P.calendar, DUE, 1, P.working_hours) == cn(2026, 12, 2, 8, 30)


def test_fin_audit_late_without_an_auditor_goes_to_the_head_of_technical_quality() -> None:
    # docs/rules.md §9: nobody recorded when the audit started → the head of TQ (policy data).
    unassigned = {"due_at": DUE.isoformat(), "day": 1, "auditor": None, "classified_by": "tq-003"}
    fallback = evaluate("FIN-AUDIT-LATE", "dispatch-2026.2", unassigned)
    assert (fallback["person"], fallback["auditor_assigned"]) == ("tq-head", False)
    assigned = evaluate("FIN-AUDIT-LATE", "dispatch-2026.2", {**unassigned, "auditor": "tq-007"})
    assert (assigned["person"], assigned["auditor_assigned"]) == ("tq-007", True)
    # dispatch-2026.1 fined whoever classified the fault; its recorded decisions (`auditor` was the
    # classifier then, no `classified_by`) re-run to the same outputs.
    assert evaluate("FIN-AUDIT-LATE", "dispatch-2026.1", unassigned)["person"] == "tq-003"
    recorded = {"due_at": DUE.isoformat(), "day": 1, "auditor": "tq-003"}
    assert "auditor_assigned" not in evaluate("FIN-AUDIT-LATE", "dispatch-2026.1", recorded)
    assert evaluate("FIN-AUDIT-LATE", "dispatch-2026.1", recorded)["person"] == "tq-003"


# ------------------------------------------------------------------ FIN-RETURN-UNAPPROVED / FORM-FALSIFIED


@pytest.mark.parametrize("rule_id", ["FIN-RETURN-UNAPPROVED", "FIN-FORM-FALSIFIED"])
@pytest.mark.parametrize(("amount_fen", "within"), [(4_999, False), (5_000, True), (50_000, True), (50_001, False)])
def test_ranged_fines_are_50_to_500_yuan(rule_id: str, amount_fen: int, within: bool) -> None:
    outputs = evaluate(rule_id, P.version, {"amount_fen": amount_fen, "person": "eng-1"})
    assert outputs["within_range"] is within
    assert (outputs["min_fen"], outputs["max_fen"]) == (5_000, 50_000)


def test_intake_fines_fin_relay_late_and_fin_record_incomplete_are_50_yuan() -> None:
    from services.intake.policy import current_policy as intake_policy
    from services.intake.policy import evaluate as intake_evaluate

    version = intake_policy().version
    assert intake_evaluate("FIN-RELAY-LATE", version, {"receiver": "a-1"})["amount_fen"] == 5_000
    incomplete = {"receiver": "a-1", "missing_fields": ["customer.phone"], "extra_cost_fen": 20_000}
    assert intake_evaluate("FIN-RECORD-INCOMPLETE", version, incomplete)["amount_fen"] == 5_000


def test_fin_part_late_is_a_policy_amount() -> None:
    from services.parts.policy import RULES as PARTS_RULES

    assert "FIN-PART-LATE" in PARTS_RULES


# ------------------------------------------------------------------------------------- escalations


def test_escalation_chain_branch_manager_then_management() -> None:
    up = evaluate("ESC-CHAIN", P.version, {"to": "branch_manager", "raised_at": RECEIVED})
    assert up == {"next": "management", "due_at": "2026-11-24T09:15:00+08:00", "hours": 24.0}
    assert evaluate("ESC-CHAIN", P.version, {"to": "deputy_gm", "raised_at": RECEIVED})["next"] == "management"
    assert evaluate("ESC-CHAIN", P.version, {"to": "management", "raised_at": RECEIVED})["next"] is None


def test_decisions_reproduce_from_their_inputs() -> None:
    for rule_id, inputs in (("DSP-ARRIVE", {"received_at": RECEIVED, "distance_km": 800.0}), ("DSP-FORM", form())):
        decision = decide(rule_id, inputs, P)
        assert evaluate(decision.rule, decision.policy_version, decision.inputs) == decision.outputs
    assert set(POLICIES) == {"dispatch-2026.1", "dispatch-2026.2"}  # versions are append-only
    assert P.version == "dispatch-2026.2"


# ------------------------------------------------------------------------- the case, given / when / then


def dispatched_case() -> Case:
    case = Case.open(complaint_no="TS-2026-00000001", received_at=cn(2026, 11, 23, 9, 15), kind="fault",
                     agent_id="agent-017", customer={"name": "甲"}, equipment={"serial": "S1", "model": "QY25K"},
                     site={"region": "四川", "distance_km": 800.0}, causation_id="t")  # fmt: skip
    at = cn(2026, 11, 23, 10, 0)
    case.need_on_site("tq-003", "quality", 3, True, case.equipment, case.site, at, "t")
    case.note_payer({"applies": "WAR-FREE", "payer": "company", "fee_consent_required": False}, at, "t")
    case.decide_fee(decide("DSP-FEE-CONSENT", case.fee_inputs() or {}, P), at, "t")
    roster = [engineer("eng-1", "四川", 0)]
    case.assign(decide("DSP-ASSIGN", {"region": "四川", "model": "QY25K", "engineers": roster}, P), at, "t")
    case.set_deadline(decide("DSP-ARRIVE", {"received_at": RECEIVED, "distance_km": 800.0}, P), at, "t")
    return case


def escalation(to: str, at: dt.datetime) -> Any:
    return decide("ESC-CHAIN", {"to": to, "raised_at": at.isoformat()}, P)


def test_case_late_arrival_breaches_dsp_arrive_and_escalates_once() -> None:
    case = dispatched_case()
    late = cn(2026, 11, 25, 10, 15)  # 49 h after receipt
    assert case.breach("DSP-ARRIVE", late, "tick", escalation("branch_manager", late)) is True
    assert case.breach("DSP-ARRIVE", late, "tick", escalation("branch_manager", late)) is False
    case.arrive(Actor("eng-1", "engineer"), late, "cmd", escalation("branch_manager", late))
    types = [type(e).__name__ for e in case.collect_events()]
    assert types.count("DeadlineBreached") == 1
    assert types.count("EscalationRaised") == 1
    assert case.deadlines["DSP-ARRIVE"].met_at == late.isoformat()


def test_case_signature_before_service_start_is_rejected_and_nothing_recorded() -> None:
    case = dispatched_case()
    case.arrive(Actor("eng-1", "engineer"), cn(2026, 11, 24, 10, 0), "cmd", escalation("branch_manager", DUE))
    case.collect_events()
    bad = decide("DSP-FORM", form(signed_at="2026-11-24T10:00:00+08:00"), P)
    with pytest.raises(CommandRejected, match="DSP-FORM: signature time"):
        case.sign_form(Actor("eng-1", "engineer"), bad, cn(2026, 11, 24, 15, 30), "cmd")
    assert case.collect_events() == []
    case.sign_form(Actor("eng-1", "engineer"), decide("DSP-FORM", form(), P), cn(2026, 11, 24, 15, 30), "cmd")
    events = case.collect_events()
    parts = next(e for e in list[object](events) if isinstance(e, PartsReplaced))
    assert parts.parts[0].total_fen == 25_100
    assert parts.parts[0].dispatch_order_no == "TS-2026-00000001-D1"
    assert any(type(e).__name__ == "RepairOutcomeRecorded" for e in events)


def test_case_fine_once_per_occurrence_then_disputed_and_reversed() -> None:
    case = dispatched_case()
    fine = decide("FIN-AUDIT-LATE", {"due_at": DUE.isoformat(), "day": 1, "auditor": "tq-003"}, P)
    fine_id = case.levy_fine(fine, "late", 1, DUE, "tick")
    assert fine_id is not None
    assert case.levy_fine(fine, "late", 1, DUE, "tick") is None
    case.dispute_fine(Actor("tq-003", "tq"), fine_id, "the report came late", DUE, "cmd")
    case.reverse_fine(Actor("bm-1", "branch_manager"), fine_id, "accepted", DUE, "cmd")
    with pytest.raises(CommandRejected, match="already reversed"):
        case.reverse_fine(Actor("bm-1", "branch_manager"), fine_id, "again", DUE, "cmd")
    reversal = case.collect_events()[-1]
    assert isinstance(reversal, FineReversed)
    assert (type(reversal).__name__, reversal.fine_id, reversal.amount_fen) == ("FineReversed", fine_id, 5_000)


def test_nobody_reverses_a_fine_about_themselves_or_one_they_disputed() -> None:
    """SOD-OWN-FINE (docs/rules.md §7), whatever the role."""
    case = dispatched_case()
    fine = decide("FIN-AUDIT-LATE", {"due_at": DUE.isoformat(), "day": 1, "auditor": "bm-7"}, P)
    fine_id = case.levy_fine(fine, "late", 1, DUE, "tick")
    assert fine_id is not None
    with pytest.raises(SeparationOfDuties, match="SOD-OWN-FINE: bm-7 may not reverse"):
        case.reverse_fine(Actor("bm-7", "branch_manager"), fine_id, "mine", DUE, "cmd")
    case.dispute_fine(Actor("gm-2", "gm"), fine_id, "disputed for him", DUE, "cmd")
    with pytest.raises(SeparationOfDuties, match="SOD-OWN-FINE: gm-2 may not reverse"):
        case.reverse_fine(Actor("gm-2", "gm"), fine_id, "and reversed", DUE, "cmd")
    case.reverse_fine(Actor("bm-1", "branch_manager"), fine_id, "accepted", DUE, "cmd")


def test_nobody_approves_the_fee_exception_they_recorded() -> None:
    """SOD-OWN-FEE: the refusal's recorder may not approve the dispatch (whatever the role)."""
    case = Case.open(complaint_no="TS-2026-00000002", received_at=cn(2026, 11, 23, 9, 15), kind="fault",
                     agent_id="agent-017", customer={"name": "甲"}, equipment={"serial": "S1", "model": "QY25K"},
                     site={"region": "四川", "distance_km": 800.0}, causation_id="t")  # fmt: skip
    at = cn(2026, 11, 23, 10, 0)
    case.need_on_site("tq-003", "quality", 3, True, case.equipment, case.site, at, "t")
    case.note_payer({"applies": "WAR-OUT", "payer": "customer", "fee_consent_required": True}, at, "t")
    case.decide_fee(decide("DSP-FEE-CONSENT", case.fee_inputs() or {}, P), at, "t")
    case.record_consent(Actor("dgm-1", "tq"), False, 80_000, "更换油缸", at, "cmd")
    with pytest.raises(SeparationOfDuties, match="SOD-OWN-FEE"):
        case.approve_dispatch(Actor("dgm-1", "deputy_gm"), "客户重要", at, "cmd")
    case.approve_dispatch(Actor("dgm-2", "deputy_gm"), "客户重要", at, "cmd")


def test_rules_registry_names_each_rule_once() -> None:
    assert sorted(RULES) == sorted({*RULES})
