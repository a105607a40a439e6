"""Intake and warranty rules (docs/rules.md §1–2, FIN-RELAY-LATE, FIN-RECORD-INCOMPLETE) as pure functions."""

from __future__ import annotations

import datetime as dt

import pytest

from services.intake.domain import complaint_id_for
from services.intake.policy import (
    POLICIES,
    RULES,
    IntakePolicy,
    add_months,
    current_policy,
    decide,
    evaluate,
    missing_fields,
    register_number,
)
from shared.events.telephony import ComplaintReceivedV1, decode_telephony
from shared.workcal import CHINA
from tests.support import body, call

P = current_policy()


def cn(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=CHINA)


def decode(message: dict[str, object]) -> ComplaintReceivedV1:
    decoded = decode_telephony(body(message))
    assert isinstance(decoded, ComplaintReceivedV1)
    return decoded


# ----------------------------------------------------------------------------- INT-REGISTER / DEDUP


def test_int_register_number_is_by_china_year_and_sequence() -> None:
    # 2026-12-31 17:00 UTC is already 2027-01-01 in Asia/Shanghai.
    assert register_number(42, dt.datetime(2026, 12, 31, 17, 0, tzinfo=dt.UTC)) == "TS-2027-00000042"
    assert register_number(1, dt.datetime(2026, 12, 31, 15, 59, tzinfo=dt.UTC)) == "TS-2026-00000001"


def test_int_dedup_one_call_one_identity() -> None:
    assert complaint_id_for("CALL-1") == complaint_id_for("CALL-1")
    assert complaint_id_for("CALL-1") != complaint_id_for("CALL-2")


# --------------------------------------------------------------------------------------- INT-REQUIRED


def test_int_required_complete_record_has_nothing_missing() -> None:
    assert missing_fields(decode(call("C"))) == []


def test_int_required_lists_each_missing_field() -> None:
    message = call("C", description="  ", customer={"name": "甲"})
    message["equipment"] = {"model": "QY25K"}
    message["site"] = {"region": None}
    assert missing_fields(decode(message)) == [
        "customer.phone", "equipment.serial", "description", "site.region", "site.distance_km",
    ]  # fmt: skip


def test_int_required_a_call_without_its_receiver_is_incomplete() -> None:
    # docs/rules.md §9: a call that arrives without agent_id is flagged record_incomplete.
    assert missing_fields(decode(call("C", agent_id=None)), P) == ["agent_id"]
    assert missing_fields(decode(call("C", agent_id=None)), POLICIES["intake-2026.1"]) == []


def test_int_required_coordinates_stand_in_for_distance() -> None:
    assert missing_fields(decode(call("C", site={"region": "四川", "lat": 30.6, "lon": 104.1}))) == []
    assert missing_fields(decode(call("C", site={"region": "四川", "lat": 30.6}))) == ["site.distance_km"]


def test_int_required_unknown_acceptance_date_is_not_a_missing_field() -> None:
    message = call("C")
    message["equipment"]["acceptance_date"] = None
    assert missing_fields(decode(message)) == []


# ------------------------------------------------------------------------- INT-RELAY-4WH / REPLY-8WH


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (cn(2026, 11, 27, 16, 0), cn(2026, 11, 30, 11, 30)),  # Friday afternoon → Monday
        (cn(2026, 9, 30, 15, 0), cn(2026, 10, 8, 10, 30)),  # National Day holidays skipped
        (cn(2026, 10, 9, 16, 0), cn(2026, 10, 10, 11, 30)),  # Saturday make-up workday (调休) counts
        (cn(2026, 11, 23, 8, 0), cn(2026, 11, 23, 12, 30)),  # before opening: counts from 08:30
        (cn(2026, 11, 23, 12, 59), cn(2026, 11, 23, 16, 59)),  # same day
        (cn(2026, 11, 23, 13, 0), cn(2026, 11, 23, 17, 0)),  # lands exactly on closing time
        (cn(2026, 11, 23, 13, 1), cn(2026, 11, 24, 8, 31)),  # one minute past: next morning
        (cn(2026, 11, 23, 22, 0), cn(2026, 11, 24, 12, 30)),  # night call (hotline is 7×24)
        (cn(2026, 11, 28, 10, 0), cn(2026, 11, 30, 12, 30)),  # Saturday (not a make-up day)
    ],
)
def test_int_relay_4wh(received: dt.datetime, due: dt.datetime) -> None:
    outputs = evaluate("INT-RELAY-4WH", P.version, {"received_at": received.isoformat()})
    assert dt.datetime.fromisoformat(outputs["due_at"]) == due


def test_int_reply_8wh_within_a_working_day_of_eight_and_a_half_hours() -> None:
    outputs = evaluate("INT-REPLY-8WH", P.version, {"received_at": cn(2026, 11, 23, 9, 0).isoformat()})
    assert dt.datetime.fromisoformat(outputs["due_at"]) == cn(2026, 11, 23, 17, 0)
    later = evaluate("INT-REPLY-8WH", P.version, {"received_at": cn(2026, 11, 23, 9, 1).isoformat()})
    assert dt.datetime.fromisoformat(later["due_at"]) == cn(2026, 11, 24, 8, 31)
    friday = evaluate("INT-REPLY-8WH", P.version, {"received_at": cn(2026, 11, 27, 16, 0).isoformat()})
    assert dt.datetime.fromisoformat(friday["due_at"]) == cn(2026, 11, 30, 15, 30)


# ------------------------------------------------------------------------------------ INT-LEVELS


@pytest.mark.parametrize(
    ("kind", "level", "hours", "to_management"),
    [("fault", 1, 2, True), ("fault", 2, 4, False), ("fault", 3, 24, False), ("fault", 4, 24, False),
     ("consultation", None, 48, False)],
)  # fmt: skip
def test_int_levels_first_response_in_calendar_hours(
    kind: str, level: int | None, hours: int, to_management: bool
) -> None:
    received = cn(2026, 11, 28, 23, 0)  # a Saturday night: calendar hours, not working hours
    outputs = evaluate("INT-LEVELS", P.version, {"received_at": received.isoformat(), "kind": kind, "level": level})
    assert dt.datetime.fromisoformat(outputs["due_at"]) == received + dt.timedelta(hours=hours)
    assert outputs["escalate_to_management"] is to_management


@pytest.mark.parametrize(
    ("kind", "level", "breach_to"),
    [("fault", 1, None), ("fault", 2, "branch_manager"), ("fault", 3, "branch_manager"),
     ("fault", 4, "branch_manager"), ("consultation", None, "branch_manager")],
)  # fmt: skip
def test_int_levels_a_missed_first_response_goes_to_the_branch_manager_level_1_is_already_with_management(
    kind: str, level: int | None, breach_to: str | None
) -> None:
    # docs/rules.md §4: a missed first response → branch manager; a level-1 fault → management at once.
    inputs = {"received_at": cn(2027, 2, 10, 8, 0).isoformat(), "kind": kind, "level": level}
    outputs = evaluate("INT-LEVELS", P.version, inputs)
    assert outputs["on_breach_escalate_to"] == breach_to
    assert outputs["met_by"] == "customer_contact"  # §9: classification alone is no response


def test_int_levels_under_intake_2026_1_computes_what_it_always_did() -> None:
    inputs = {"received_at": cn(2026, 11, 23, 9, 0).isoformat(), "kind": "fault", "level": 1}
    assert evaluate("INT-LEVELS", "intake-2026.1", inputs) == {
        "due_at": cn(2026, 11, 23, 11, 0).isoformat(), "hours": 2.0, "escalate_to_management": True,
    }  # fmt: skip


def test_int_classify_levels_outside_1_to_4_are_refused_at_the_boundary() -> None:
    import msgspec

    from shared.events.commands import decode_intake_command

    base = {"command": "classify", "complaint_no": "TS-2026-00000001", "actor": {"id": "tq-1", "role": "tq"},
            "cause": "quality", "on_site": True}  # fmt: skip
    for level in (1, 4):
        assert decode_intake_command(msgspec.json.encode({**base, "level": level}))
    for level in (0, 5):
        with pytest.raises(msgspec.ValidationError):
            decode_intake_command(msgspec.json.encode({**base, "level": level}))
    with pytest.raises(msgspec.ValidationError):
        decode_intake_command(msgspec.json.encode({**base, "level": 2, "cause": "bad luck"}))


# ------------------------------------------------------------------------------------ WAR-PERIOD


def warranty(acceptance: str | None, on: str, extension_days: int = 0) -> dict[str, object]:
    return evaluate("WAR-PERIOD", P.version, {"acceptance_date": acceptance, "on": on, "months": 12,
                                              "extension_days": extension_days})  # fmt: skip


def test_war_period_domain_example_until_is_the_last_covered_day() -> None:
    assert warranty("2025-06-01", "2026-05-31") == {"in_warranty": True, "until": "2026-05-31"}
    assert warranty("2025-06-01", "2026-06-01") == {"in_warranty": False, "until": "2026-05-31"}


def test_war_period_unknown_acceptance_is_undetermined() -> None:
    assert warranty(None, "2026-05-31") == {"in_warranty": None, "until": None}


def test_war_period_month_end_and_leap_day() -> None:
    assert add_months(dt.date(2025, 1, 31), 1) == dt.date(2025, 2, 28)
    assert add_months(dt.date(2023, 2, 28), 12) == dt.date(2024, 2, 28)
    assert warranty("2024-02-29", "2025-02-27") == {"in_warranty": True, "until": "2025-02-27"}
    assert warranty("2024-02-29", "2025-02-28")["in_warranty"] is False


def test_war_period_months_come_from_the_contract_input() -> None:
    outputs = evaluate("WAR-PERIOD", P.version, {"acceptance_date": "2025-06-01", "on": "2027-01-01", "months": 24})
    assert outputs == {"in_warranty": True, "until": "2027-05-31"}


# ------------------------------------------------------------------- WAR-FREE / WAR-MISUSE / WAR-OUT


@pytest.mark.parametrize(
    ("in_warranty", "cause", "applies", "payer", "consent"),
    [(True, "quality", "WAR-FREE", "company", False), (True, "non_quality", "WAR-MISUSE", "customer", True),
     (False, "quality", "WAR-OUT", "customer", True), (False, "non_quality", "WAR-OUT", "customer", True),
     (None, "quality", None, None, None)],
)  # fmt: skip
def test_war_free_misuse_out_decide_who_pays(
    in_warranty: bool | None, cause: str, applies: str | None, payer: str | None, consent: bool | None
) -> None:
    outputs = evaluate("WAR-PAYER", P.version, {"in_warranty": in_warranty, "cause": cause})
    assert outputs == {"applies": applies, "payer": payer, "fee_consent_required": consent}


# -------------------------------------------------------------------------------- WAR-EXTEND-60D


@pytest.mark.parametrize(
    ("in_warranty", "removed", "stops", "days"),
    [(True, False, True, 60), (True, True, True, 0), (True, False, False, 0), (False, False, True, 0),
     (None, False, True, 0)],
)  # fmt: skip
def test_war_extend_60d(in_warranty: bool | None, removed: bool, stops: bool, days: int) -> None:
    outputs = evaluate("WAR-EXTEND-60D", P.version, {"in_warranty": in_warranty, "fault_removed": removed,
                                                     "stops_work": stops})  # fmt: skip
    assert outputs == {"extend": days > 0, "days": days}


def test_war_extend_60d_extensions_add_to_until() -> None:
    assert warranty("2025-06-01", "2026-07-30", extension_days=60) == {"in_warranty": True, "until": "2026-07-30"}
    assert warranty("2025-06-01", "2026-09-28", extension_days=120)["in_warranty"] is True


# ------------------------------------------------------------------------------------- WAR-LEMON


@pytest.mark.parametrize(
    ("outcomes", "replace"),
    [(["failed"], False), (["failed", "failed"], True), (["failed", "fixed", "failed"], False),
     (["fixed", "failed", "failed"], True), ([], False), (["fixed", "fixed"], False)],
)  # fmt: skip
def test_war_lemon_two_consecutive_failed_repairs(outcomes: list[str], replace: bool) -> None:
    outputs = evaluate("WAR-LEMON", P.version, {"in_warranty": True, "cause": "quality",
                                                "outcomes_of_same_problem": outcomes})  # fmt: skip
    assert outputs["replace"] is replace


def test_war_lemon_needs_warranty_and_a_quality_problem() -> None:
    for in_warranty, cause in ((False, "quality"), (True, "non_quality"), (None, "quality")):
        outputs = evaluate("WAR-LEMON", P.version, {"in_warranty": in_warranty, "cause": cause,
                                                    "outcomes_of_same_problem": ["failed", "failed"]})  # fmt: skip
        assert outputs["replace"] is False


# ------------------------------------------------------------------------------------ WAR-LOANER


@pytest.mark.parametrize(("hours", "loaner"), [(12.0, False), (12.01, True), (0, False), (48, True)])
def test_war_loaner_over_12_hours(hours: float, loaner: bool) -> None:
    decided = cn(2026, 11, 23, 10, 0)
    outputs = evaluate("WAR-LOANER", P.version, {"expected_repair_hours": hours, "decided_at": decided.isoformat()})
    assert outputs["loaner"] is loaner
    assert dt.datetime.fromisoformat(outputs["repair_due_at"]) == decided + dt.timedelta(days=12)


# ----------------------------------------------------------------------------- WAR-EXPIRY-NOTICE


def test_war_expiry_notice_ten_days_before() -> None:
    outputs = evaluate("WAR-EXPIRY-NOTICE", P.version, {"until": "2026-05-31", "serial": "X"})
    assert dt.datetime.fromisoformat(outputs["notice_at"]) == cn(2026, 5, 21, 8, 30)


# ------------------------------------------------------------------------------------------ fines


def test_fin_relay_late_is_50_yuan_to_the_receiver() -> None:
    outputs = evaluate("FIN-RELAY-LATE", P.version, {"receiver": "agent-017"})
    assert outputs == {"amount_fen": 5000, "person": "agent-017", "role": "agent", "unattributed": False}


def test_fin_relay_late_without_a_known_receiver_is_unattributed() -> None:
    # docs/rules.md §9: the fine is recorded as unattributed; the branch manager attributes it.
    outputs = evaluate("FIN-RELAY-LATE", P.version, {"receiver": None})
    assert (outputs["person"], outputs["unattributed"], outputs["amount_fen"]) == (None, True, 5000)


INCOMPLETE = {"receiver": "agent-017", "extra_cost_fen": 30000, "missing_fields": ["customer.phone"]}


def test_fin_record_incomplete_is_50_yuan_per_record() -> None:
    outputs = evaluate("FIN-RECORD-INCOMPLETE", P.version, {**INCOMPLETE, "levied_before": 0})
    assert (outputs["levy"], outputs["amount_fen"], outputs["person"]) == (True, 5000, "agent-017")


@pytest.mark.parametrize(
    ("facts", "why"),
    [({"levied_before": 1}, "at most once"), ({"missing_fields": []}, "complete"), ({"extra_cost_fen": 0}, "extra")],
)  # fmt: skip
def test_fin_record_incomplete_only_once_only_for_an_incomplete_record_that_cost_extra(
    facts: dict[str, object], why: str
) -> None:
    outputs = evaluate("FIN-RECORD-INCOMPLETE", P.version, {**INCOMPLETE, **facts})
    assert outputs["levy"] is False
    assert outputs["amount_fen"] == 0
    assert why in outputs["refused"]


def test_intake_2026_1_fines_compute_what_they_always_did() -> None:
    # Decisions recorded under intake-2026.1 must re-run to the same outputs (aftersales replay).
    assert evaluate("FIN-RECORD-INCOMPLETE", "intake-2026.1", {"receiver": None, "extra_cost_fen": 1}) == {
        "amount_fen": 5000, "person": None, "role": "agent",
    }  # fmt: skip
    assert evaluate("FIN-RELAY-LATE", "intake-2026.1", {"receiver": None}) == {
        "amount_fen": 5000, "person": None, "role": "agent",
    }  # fmt: skip


# ----------------------------------------------------------------------------- versioned policy


def test_decisions_record_rule_version_inputs_and_reproduce() -> None:
    decision = decide("INT-RELAY-4WH", {"received_at": cn(2026, 11, 27, 16, 0).isoformat()}, P)
    assert decision.rule == "INT-RELAY-4WH"
    assert decision.policy_version == P.version
    assert evaluate(decision.rule, decision.policy_version, decision.inputs) == decision.outputs


def test_every_rule_id_of_the_rulebook_is_implemented() -> None:
    expected = {"INT-RELAY-4WH", "INT-REPLY-8WH", "INT-LEVELS", "WAR-PERIOD", "WAR-PAYER", "WAR-EXTEND-60D",
                "WAR-LEMON", "WAR-LOANER", "WAR-EXPIRY-NOTICE", "FIN-RELAY-LATE", "FIN-RECORD-INCOMPLETE"}  # fmt: skip
    assert expected <= set(RULES)


def test_policy_versions_are_frozen_values() -> None:
    policy = POLICIES[P.version]
    assert isinstance(policy, IntakePolicy)
    with pytest.raises(AttributeError):
        policy.relay_working_hours = 5  # type: ignore[misc]
