"""The complaint timeline in plain Chinese (services/reporting/timeline*.py): every event type and every
rule has its words, rule references agree with docs/rules.md, amounts in 元, times in China time."""

from __future__ import annotations

import datetime as dt
import io
import re
import shutil
import uuid
from typing import Any

import msgspec
import pytest
from pypdf import PdfReader

from aftersales.replay import Check, Step
from services.reporting.dossier import render
from services.reporting.timeline import NOT_REPRODUCED, REPRODUCED, build, shown
from services.reporting.timeline_sentences import CLAUSES, SENTENCES, Said, sentence
from services.reporting.timeline_words import RULE_SEEDS, RULE_TITLES, china_time, money, short_time
from shared.events.catalog import all_specs
from shared.events.envelope import Envelope
from tests.unit.test_docs import RULEBOOKS, RULES_DOC, rule_rows

CN = dt.timezone(dt.timedelta(hours=8))
CJK = re.compile(r"[\u4e00-\u9fff]")


def step(event_type: str, at: dt.datetime, data: dict[str, Any], *checks: Check, rule: str | None = None,
         service: str = "intake", position: int = 1) -> Step:  # fmt: skip
    own = checks[0] if rule and checks else None
    envelope = Envelope(
        event_id=uuid.uuid4(), type=event_type, version=1, occurred_at=at, service=service, position=position,
        aggregate_id=uuid.uuid4(), aggregate_version=1, correlation_id="TS-2026-00000001", causation_id="x",
        data=data, rule=rule, policy_version=own.policy_version if own else None, inputs=own.inputs if own else None,
    )  # fmt: skip
    return Step(service, position, envelope, list(checks))


def check(
    rule: str, inputs: dict[str, Any], outputs: dict[str, Any], recomputed: dict[str, Any] | None = None
) -> Check:
    return Check(rule, "intake-2026.2", inputs, outputs, outputs if recomputed is None else recomputed)


# ------------------------------------------------------------------------------- completeness


def test_rule_seeds_are_the_seed_column_of_the_rulebook() -> None:
    rows = rule_rows(RULES_DOC.read_text(encoding="utf-8"))
    assert {rule: cells[-2] for rule, cells in rows.items()} == RULE_SEEDS
    assert set(RULE_TITLES) == set(RULE_SEEDS)


def test_every_rule_a_service_registers_has_a_clause() -> None:
    registered = {rule for rules in RULEBOOKS.values() for rule in rules}
    assert registered - set(CLAUSES) == set()
    assert set(CLAUSES) <= set(RULE_SEEDS)


def sample(annotation: msgspec.inspect.Type, name: str = "") -> Any:
    """A plausible value of a payload field's type, as it arrives through JSON (money: 123450 fen)."""
    t = annotation
    if isinstance(t, msgspec.inspect.UnionType):
        t = next(x for x in t.types if not isinstance(x, msgspec.inspect.NoneType))
    match t:
        case msgspec.inspect.StrType():
            return "agent-017"
        case msgspec.inspect.BoolType():
            return True
        case msgspec.inspect.IntType():
            return 123450 if name.endswith("_fen") else 3
        case msgspec.inspect.FloatType():
            return 12.0
        case msgspec.inspect.DateTimeType():
            return "2026-12-31 16:00:00+08:00"
        case msgspec.inspect.DateType():
            return "2026-12-31"
        case msgspec.inspect.ListType():
            return [sample(t.item_type)] if isinstance(t.item_type, msgspec.inspect.StrType) else []
        case msgspec.inspect.StructType():
            return {f.encode_name: sample(f.type, f.name) for f in t.fields}
        case _:
            return {}


@pytest.mark.parametrize("spec", all_specs(), ids=lambda s: f"{s.event_type}-v{s.version}")
def test_every_event_type_of_the_catalog_has_a_chinese_sentence(spec: Any) -> None:
    assert spec.event_type in SENTENCES
    info = msgspec.inspect.type_info(spec.payload)
    assert isinstance(info, msgspec.inspect.StructType)
    data = {f.encode_name: sample(f.type, f.name) for f in info.fields}
    said = Said(data, dt.date(2026, 12, 31))
    text = sentence(spec.event_type, said)
    assert not text.startswith("事件 "), text  # the fallback for a sentence that failed
    assert CJK.search(text), text
    assert "123450" not in text, text  # money shows in 元
    if any(f.name.endswith("_fen") for f in info.fields):
        assert "1,234.50 元" in text, text


def test_an_unknown_or_malformed_event_still_reads() -> None:
    assert sentence("SomethingNew", Said({}, dt.date(2026, 11, 23))) == "事件 SomethingNew"
    assert sentence("FineLevied", Said({"amount_fen": "x"}, dt.date(2026, 11, 23))).startswith("罚款")


# -------------------------------------------------------------------------------- formatting


def test_amounts_are_shown_in_yuan() -> None:
    assert money(5000) == "50 元"
    assert money(123450) == "1,234.50 元"
    assert money(5) == "0.05 元"
    assert money(-5000) == "-50 元"
    assert money(1_000_000_00) == "1,000,000 元"
    assert money(None) == "—"


def test_times_are_china_time_across_the_year_end() -> None:
    assert china_time("2026-12-31T16:30:00Z") == "2027-01-01 00:30"
    assert china_time("2026-12-31 23:59:00+08:00") == "2026-12-31 23:59"
    assert china_time("2026-12-31") == "2026-12-31"
    assert short_time("2027-01-01T00:30:00+08:00", dt.date(2027, 1, 1)) == "00:30"
    assert short_time("2027-01-04T09:00:00+08:00", dt.date(2026, 12, 31)) == "2027-01-04 09:00"


# ---------------------------------------------------------------------------------- timeline


def a_late_relay() -> list[Step]:
    received = dt.datetime(2026, 11, 23, 10, 15, tzinfo=CN)
    relay = check("INT-RELAY-4WH", {"received_at": "2026-11-23T10:15:00+08:00", "calendar": {"2026": "v1"}},
                  {"due_at": "2026-11-23T14:15:00+08:00", "working_hours": 4.0})  # fmt: skip
    fine = check("FIN-RELAY-LATE", {"receiver": "agent-017", "deadline": "INT-RELAY-4WH"},
                 {"amount_fen": 5000, "person": "agent-017", "role": "agent", "unattributed": False})  # fmt: skip
    return [
        step(
            "ComplaintReceived",
            received,
            {
                "complaint_no": "TS-2026-00000001",
                "call_id": "CALL-1",
                "received_at": "2026-11-23 10:15:00+08:00",
                "kind": "fault",
                "agent_id": "agent-017",
                "customer": {"name": "张三", "phone": "13800000000"},
                "equipment": {"model": "QY25K", "serial": "S-1"},
                "site": {},
                "description": "漏油",
                "record_incomplete": False,
                "missing_fields": [],
                "decisions": [relay.__dict__],
            },
            relay,
        ),
        step(
            "DeadlineBreached",
            received.replace(hour=20, minute=4),
            {
                "deadline": "INT-RELAY-4WH",
                "due_at": "2026-11-23T14:15:00+08:00",
                "breached_at": "2026-11-23 20:04:00+08:00",
            },
            position=2,
        ),
        step(
            "FineLevied",
            received.replace(hour=20, minute=4),
            {
                "outputs": fine.recorded,
                "fine_id": "f-1",
                "person": "agent-017",
                "role": "agent",
                "department": "customer_service",
                "amount_fen": 5000,
                "reason": "late",
            },
            fine,
            rule="FIN-RELAY-LATE",
            position=3,
        ),
    ]


def test_a_late_relay_reads_as_the_complaint_page_promises() -> None:
    timeline = build("TS-2026-00000001", a_late_relay(), {("intake", 3): "ab" * 32})
    received, breached, fined = timeline.entries
    assert (received.at, received.clock) == ("2026-11-23 10:15", "10:15")
    assert received.sentence.startswith("接到故障投诉（来电 CALL-1")
    assert "应于 14:15 前转交技质部（INT-RELAY-4WH：4 个工作小时，001 §6.1.3）" in received.sentence
    assert breached.clock == "20:04"
    assert "超时" in breached.sentence
    assert fined.sentence == "罚款 50 元给受理人 agent-017（FIN-RELAY-LATE：未按时转交罚款，001 §6.1.4）"
    assert fined.chain_hash == "ab" * 32
    (decision,) = fined.decisions
    assert (decision.rule, decision.seed, decision.policy_version, decision.verdict) == (
        "FIN-RELAY-LATE", "001 §6.1.4", "intake-2026.2", REPRODUCED)  # fmt: skip
    assert ("金额", "50 元") in decision.outputs
    assert ("角色", "受理人") in decision.outputs
    assert ("受理人", "agent-017") in decision.inputs
    assert timeline.verdict == "全部 2 项决定均已复核"


def test_a_decision_that_does_not_reproduce_shows_the_difference() -> None:
    at = dt.datetime(2026, 11, 23, 20, 4, tzinfo=CN)
    wrong = check("FIN-RELAY-LATE", {"receiver": "agent-017"}, {"amount_fen": 10000, "person": "agent-017"},
                  recomputed={"amount_fen": 5000, "person": "agent-017"})  # fmt: skip
    timeline = build("X", [step("FineLevied", at, {"amount_fen": 10000, "person": "agent-017", "role": "agent"},
                                wrong, rule="FIN-RELAY-LATE")])  # fmt: skip
    (decision,) = timeline.entries[0].decisions
    assert decision.verdict == NOT_REPRODUCED
    assert decision.difference == "金额：记录为 100 元，复算为 50 元"
    assert timeline.verdict == "1 项决定复核不一致（共 1 项）"
    failed = Check("FIN-RELAY-LATE", "intake-2026.2", {}, {"amount_fen": 1}, None, "KeyError: 'receiver'")
    assert build("X", [step("FineLevied", at, {}, failed, rule="FIN-RELAY-LATE")]).entries[0].decisions[0].difference \
        == "复算出错：KeyError: 'receiver'"  # fmt: skip


def test_a_deadline_across_the_year_end_names_the_new_year() -> None:
    evening = dt.datetime(2026, 12, 31, 15, 30, tzinfo=dt.UTC)  # 23:30 in China
    deadline = check("INT-REPLY-8WH", {"received_at": "2026-12-31T23:30:00+08:00"},
                     {"due_at": "2027-01-04T16:30:00+08:00", "working_hours": 8.0})  # fmt: skip
    night = dt.datetime(2026, 12, 31, 16, 30, tzinfo=dt.UTC)  # 00:30 on 1 January in China
    timeline = build("X", [
        step("DeadlineSet", evening, {"outputs": deadline.recorded}, deadline, rule="INT-REPLY-8WH"),
        step("SurveyRecorded", night, {"survey_call_id": "S", "rating": 5, "satisfied": True,
                                       "completed_at": "2027-01-01 00:30:00+08:00"}, position=2),
    ])  # fmt: skip
    first, second = timeline.entries
    assert first.at == "2026-12-31 23:30"
    assert first.sentence.startswith("应于 2027-01-04 16:30 前答复或确定解决方案（INT-REPLY-8WH：8 个工作小时")
    assert second.at == "2027-01-01 00:30"
    assert [day for day, _ in timeline.days()] == ["2026-12-31", "2027-01-01"]


# ------------------------------------------------------------------------------------ render


def test_the_dossier_pdf_carries_the_timeline_in_chinese() -> None:
    timeline = build("TS-2026-00000001", a_late_relay(), {("intake", 3): "ab" * 32})
    view = {"complaint_no": "TS-2026-00000001", "status": "received", "kind": "fault",
            "received_at": "2026-11-23T10:15:00+08:00", "agent_id": "agent-017",
            "customer": {"name": "张三", "phone": "13800000000"}, "equipment": {"model": "QY25K", "serial": "S-1"},
            "site": {"region": "四川", "address": "成都市"}, "cause": None, "level": None,
            "warranty": {"in_warranty": True, "until": "2027-02-28"}, "description": "漏油",
            "fines": [{"rule": "FIN-RELAY-LATE", "amount_fen": 5000, "person": "agent-017", "status": "levied"}],
    }  # fmt: skip
    html = render.dossier_html(timeline, view)
    assert "罚款 50 元给受理人 agent-017（FIN-RELAY-LATE：未按时转交罚款，001 §6.1.4）" in html
    assert "ab" * 32 in html
    assert REPRODUCED in html
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(render.pdf_bytes(html))).pages)
    flat = re.sub(r"\s+", "", text)
    for entry in timeline.entries:
        assert re.sub(r"\s+", "", entry.sentence) in flat, entry.sentence
    assert "FIN-RELAY-LATE" in flat
    assert "INT-RELAY-4WH" in flat
    assert REPRODUCED in flat


def test_without_a_cjk_font_the_pdf_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(render, "KNOWN_CJK_FONTS", ())
    render.cjk_font_family.cache_clear()
    try:
        with pytest.raises(render.PdfUnavailable, match="fonts-noto-cjk"):
            render.pdf_bytes("<p>投诉</p>")
    finally:
        render.cjk_font_family.cache_clear()


def test_decision_values_read_as_words() -> None:
    assert shown("cause", "quality") == "产品质量问题"
    assert shown("payer", "company") == "公司"
    assert shown("to", "branch_manager") == "销售分公司经理"
    assert (shown("level", 3), shown("level", "site")) == ("3", "现场")
    assert shown("in_warranty", True) == "是"
    assert shown("price_fen", 123450) == "1,234.50 元"
    assert shown("due_at", "2026-12-31T16:30:00Z") == "2027-01-01 00:30"
    assert shown("hours", 24.0) == "24"
    assert shown("address", "pii:v1:k1:abc") == "（个人信息，加密保存）"  # never the ciphertext
