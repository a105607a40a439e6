# ruff: noqa: E501 (one sentence per table row reads better than Chinese text wrapped mid-phrase)
"""One plain Chinese sentence per event type, and one clause per decision rule (pure, no I/O).

Every event type of the catalog (shared/events) has a sentence here; tests/unit/test_timeline.py walks
the catalog so that none is forgotten. A decision's clause ends with its rule reference
(`（INT-RELAY-4WH：4 个工作小时，001 §6.1.3）`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from services.reporting.timeline_words import (
    CAUSES,
    CHANNELS,
    DEADLINES,
    DEPARTMENTS,
    DISPOSITIONS,
    KINDS,
    LEVELS,
    OUTCOMES,
    PART_CLASSES,
    PAYERS,
    ROLES,
    hours,
    money,
    person,
    rule_ref,
    short_time,
    word,
)  # fmt: skip


@dataclass(frozen=True)
class Said:
    """What an event says: its data, its day (China time), and its own decision if it is one."""

    data: Mapping[str, Any]
    day: dt.date
    rule: str | None = None
    inputs: Mapping[str, Any] = field(default_factory=dict)
    outputs: Mapping[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.data.get(key)

    def t(self, value: Any) -> str:
        return short_time(value, self.day)

    def out(self, key: str) -> Any:
        return self.outputs.get(key, self.data.get("outputs", {}).get(key))


# ------------------------------------------------------------------------------ decision clauses

Clause = Callable[[Mapping[str, Any], Mapping[str, Any], dt.date], str]


def _due(label: str, rule: str, detail: Callable[[Mapping[str, Any]], str]) -> Clause:
    def say(inputs: Mapping[str, Any], outputs: Mapping[str, Any], day: dt.date) -> str:
        return f"应于 {short_time(outputs.get('due_at'), day)} 前{label}{rule_ref(rule, detail(outputs))}"

    return say


def _warranty(i: Mapping[str, Any], o: Mapping[str, Any], day: dt.date) -> str:
    if o.get("in_warranty") is None:
        return f"无验收日期，保修未定{rule_ref('WAR-PERIOD')}"
    state = "在保修期内" if o["in_warranty"] else "已过保修期"
    months = i.get("months") or 12
    return f"{state}，保修至 {o.get('until')}{rule_ref('WAR-PERIOD', f'自验收日起 {months} 个月')}"


def _payer(i: Mapping[str, Any], o: Mapping[str, Any], day: dt.date) -> str:
    if o.get("applies") is None:
        return f"付费方待定{rule_ref('WAR-PAYER')}"
    consent = "，须客户确认收费" if o.get("fee_consent_required") else ""
    return f"由{word(PAYERS, o.get('payer'))}付费（{o['applies']}）{consent}{rule_ref('WAR-PAYER')}"


def _fine(rule: str) -> Clause:
    def say(i: Mapping[str, Any], o: Mapping[str, Any], day: dt.date) -> str:
        if o.get("levy") is False or o.get("fine") is False:
            return f"不罚款{rule_ref(rule)}"
        return f"罚款 {money(o.get('amount_fen'))}给{person(o.get('person'), o.get('role'))}{rule_ref(rule)}"

    return say


CLAUSES: dict[str, Clause] = {
    "INT-RELAY-4WH": _due("转交技质部", "INT-RELAY-4WH", lambda o: f"{hours(o.get('working_hours', 4))} 个工作小时"),
    "INT-REPLY-8WH": _due("答复或确定解决方案", "INT-REPLY-8WH",
                          lambda o: f"{hours(o.get('working_hours', 8))} 个工作小时"),
    "INT-LEVELS": _due("首次响应客户", "INT-LEVELS", lambda o: f"{hours(o.get('hours'))} 小时"),
    "DSP-ARRIVE": _due("工程师到场", "DSP-ARRIVE", lambda o: f"按距离 {hours(o.get('hours'))} 小时"),
    "DSP-REPORT-3WD": _due("交书面报告", "DSP-REPORT-3WD", lambda o: f"{o.get('working_days', 3)} 个工作日"),
    "DSP-AUDIT-5WD": _due("完成审核", "DSP-AUDIT-5WD", lambda o: f"{o.get('working_days', 5)} 个工作日"),
    "DSP-FOLLOWUP": lambda i, o, d: f"第 {o.get('quarter')} 季度回访定于 {short_time(o.get('due_at'), d)}"
    + rule_ref("DSP-FOLLOWUP"),
    "ESC-CHAIN": lambda i, o, d: f"{short_time(o.get('due_at'), d)} 前无人确认则上报{word(ROLES, o.get('next'))}"
    + rule_ref("ESC-CHAIN", f"{hours(o.get('hours'))} 小时"),
    "WAR-PERIOD": _warranty,
    "WAR-PAYER": _payer,
    "WAR-EXPIRY-NOTICE": lambda i, o, d: f"{short_time(o.get('notice_at'), d)} 书面通知客户续保"
    + rule_ref("WAR-EXPIRY-NOTICE"),
    "WAR-LOANER": lambda i, o, d: ("提供免费备用机" if o.get("loaner") else "无需备用机")
    + f"，维修须于 {short_time(o.get('repair_due_at'), d)} 前完成{rule_ref('WAR-LOANER')}",
    "WAR-EXTEND-60D": lambda i, o, d: (f"保修延长 {o.get('days')} 天" if o.get("extend") else "保修不延长")
    + rule_ref("WAR-EXTEND-60D"),
    "WAR-LEMON": lambda i, o, d: ("免费更换新机" if o.get("replace") else f"暂不换新（连续 {o.get('consecutive_failed')} 次未修复）")
    + rule_ref("WAR-LEMON"),
    "DSP-FEE-CONSENT": lambda i, o, d: ("可以派工" if o.get("may_dispatch") else "暂不派工")
    + ("，须客户确认收费" if o.get("consent_required") else "")
    + (f"，须{word(ROLES, o.get('needs_approval_by'))}批准" if o.get("needs_approval_by") else "")
    + rule_ref("DSP-FEE-CONSENT"),
    "DSP-ASSIGN": lambda i, o, d: (f"选派工程师 {o.get('engineer_id')}" if o.get("engineer_id") else "暂无可派工程师")
    + rule_ref("DSP-ASSIGN"),
    "DSP-FORM": lambda i, o, d: ("服务单有效" if o.get("valid") else f"服务单无效（{'；'.join(map(str, o.get('problems') or []))}）")
    + (f"，配件合计 {money(o.get('parts_total_fen'))}" if o.get("parts_total_fen") else "")
    + rule_ref("DSP-FORM"),
    "DSP-RETURN-APPROVAL": lambda i, o, d: ("未经批准离场" if o.get("left_without_approval") else "经批准离场")
    + rule_ref("DSP-RETURN-APPROVAL"),
    "DSP-SERVICE-FAULT": lambda i, o, d: ("确属服务责任" if o.get("service_at_fault") else "不属服务责任")
    + (f"（{o.get('ground')}）" if o.get("ground") else "")
    + rule_ref("DSP-SERVICE-FAULT"),
    "PRT-DUE-7D": lambda i, o, d: f"旧件应于 {o.get('due_date')} 前交回" + (f"，已逾期 {o['delay_days']} 天" if o.get("delay_days") else "")
    + rule_ref("PRT-DUE-7D"),
    "PRT-RECORD": lambda i, o, d: (f"记录缺少 {'、'.join(map(str, o.get('sale_blocked_by') or []))}，补全前不得销售" if o.get("sale_blocked_by") else "记录可供销售")
    + rule_ref("PRT-RECORD"),
    "PRT-DISPOSITION": lambda i, o, d: f"处置方式：{word(DISPOSITIONS, o.get('disposition'))}" + rule_ref("PRT-DISPOSITION"),
    "PRT-PRICE-FLOOR": lambda i, o, d: f"底价 {money(o.get('floor_fen'))}" + rule_ref("PRT-PRICE-FLOOR"),
    "PRT-RESPONSIBILITY": lambda i, o, d: f"责任应于 {o.get('due_date')} 前判定" + rule_ref("PRT-RESPONSIBILITY", f"{o.get('days')} 天"),
    "PRT-REMOTE": lambda i, o, d: (f"偏远地区，底价再降 {o.get('reduction')}" if o.get("remote") else "非偏远地区") + rule_ref("PRT-REMOTE"),
    "PRT-SCRAP-APPROVAL": lambda i, o, d: f"须{word(LEVELS, o.get('level'))}级审批" + rule_ref("PRT-SCRAP-APPROVAL"),
    "PRT-SUPPLIER-CLAIM": lambda i, o, d: (f"向供应商 {o.get('supplier')} 索赔 {money(o.get('amount_fen'))}" if o.get("claim") else "不向供应商索赔")
    + rule_ref("PRT-SUPPLIER-CLAIM"),
    **{rule: _fine(rule) for rule in ("FIN-RELAY-LATE", "FIN-RECORD-INCOMPLETE", "FIN-RETURN-UNAPPROVED",
                                       "FIN-AUDIT-LATE", "FIN-FORM-FALSIFIED", "FIN-PART-LATE")},
}  # fmt: skip


def clause(rule: str, inputs: Mapping[str, Any], outputs: Mapping[str, Any], day: dt.date) -> str:
    say = CLAUSES.get(rule)
    if say is None:
        return f"按规则作出决定{rule_ref(rule)}"
    try:
        return say(inputs, outputs, day)
    except (KeyError, TypeError, ValueError, AttributeError):
        return f"按规则作出决定{rule_ref(rule)}"


def decided(s: Said) -> str:
    """The sentence of an event that is one decision: its rule's clause."""
    return clause(s.rule or "", s.inputs, s.outputs or s.data.get("outputs", {}), s.day)


# ----------------------------------------------------------------------------------- sentences

Sentence = Callable[[Said], str]


def _received(s: Said) -> str:
    missing = (
        f"，记录不全（缺 {'、'.join(s['missing_fields'])}）{rule_ref('INT-REQUIRED')}" if s["record_incomplete"] else ""
    )
    equipment = s["equipment"] or {}
    return (f"接到{word(KINDS, s['kind'])}投诉（来电 {s['call_id']}，受理人 {s['agent_id'] or '未记录'}，"
            f"设备 {equipment.get('model') or '—'} {equipment.get('serial') or ''}）"
            f"，编号 {s['complaint_no']}{rule_ref('INT-REGISTER')}{missing}")  # fmt: skip


def _breached(s: Said) -> str:
    what = DEADLINES.get(str(s["deadline"]), str(s["deadline"]))
    return f"超时：{what}应于 {s.t(s['due_at'])} 前完成（{s['deadline']}）"


def _met(s: Said) -> str:
    what = DEADLINES.get(str(s["deadline"]), str(s["deadline"]))
    return f"{what}已完成{'（逾期）' if s['late'] else '（按时）'}（{s['deadline']}）"


def _fine_levied(s: Said) -> str:
    rule = s.rule or "FIN"
    return f"罚款 {money(s['amount_fen'])}给{person(s['person'], s['role'])}{rule_ref(rule)}"


def _fine_noted(s: Said) -> str:
    return f"派工记下 {s['fine_rule']} 罚款 {money(s['amount_fen'])}（{person(s['person'], s['role'])}），可在此申诉"


def _escalation(s: Said) -> str:
    return f"升级至{word(ROLES, s['to'])}（由 {s['trigger_rule']} 触发）"


def _form(s: Said) -> str:
    return f"工程师 {s['engineer_id']} 的技术服务单签字（派工单 {s['dispatch_order_no']}）；{decided(s)}"


def _parts_replaced(s: Said) -> str:
    parts = "、".join(
        f"{p.get('description')} {p.get('material_code')} × {p.get('quantity')}" for p in s["parts"] or []
    )
    return f"更换配件：{parts or '无'}"


def _sold(s: Said) -> str:
    below = "，低于底价" if s["below_floor"] else ""
    return f"旧件售予 {s['buyer']}，售价 {money(s['price_fen'])}（底价 {money(s['floor_fen'])}{below}）{rule_ref('PRT-PRICE-FLOOR')}"


def _with_decision(text: Callable[[Said], str]) -> Sentence:
    return lambda s: f"{text(s)}；{decided(s)}" if s.rule else text(s)


SENTENCES: dict[str, Sentence] = {
    # intake
    "ComplaintReceived": _received,
    "RegisterNumberVoided": lambda s: f"投诉编号 {s['complaint_no']} 作废：{s['reason']}{rule_ref('INT-REGISTER')}",
    "SurveyRecorded": lambda s: f"满意度回访评分 {s['rating']} 分（{'满意' if s['satisfied'] else '不满意'}）",
    "DeadlineSet": decided,
    "DeadlineMet": _met,
    "DeadlineBreached": _breached,
    "FineLevied": _fine_levied,
    "FineAttributed": lambda s: f"{person(s['actor'], 'branch_manager')} 将 {s['fine_rule']} 罚款归于"
    f"{person(s['person'], s['role'])}：{s['reason']}",
    "FirstContactRecorded": lambda s: f"{person(s['actor'], s['role'])} 通过{word(CHANNELS, s['channel'])}联系客户，"
    f"约定：{s['agreed']}" + (f"，上门时间 {s.t(s['visit_at'])}" if s["visit_at"] else ""),
    "EscalationRaised": _escalation,
    "ComplaintRelayed": lambda s: f"{person(s['actor'], 'agent')} 转交技质部",
    "RecordCompleted": lambda s: f"{s['actor']} 补全记录（{'、'.join(s['fields'] or {})}）"
    + (f"，仍缺 {'、'.join(s['missing_fields'])}" if s["missing_fields"] else ""),
    "FaultClassified": lambda s: f"技质部 {s['actor']} 分类：{word(CAUSES, s['cause'])}，{s['level']} 级，"
    f"{'需要' if s['on_site'] else '无需'}上门{rule_ref('INT-CLASSIFY')}",
    "ConsultationAnswered": lambda s: f"技质部 {s['actor']} 答复咨询：{s['answer']}",
    "SolutionDecided": lambda s: f"技质部 {s['actor']} 确定解决方案：{s['solution']}"
    + (f"（预计维修 {hours(s['expected_repair_hours'])} 小时）" if s["expected_repair_hours"] else ""),
    "LoanerDecided": decided,
    "WarrantyDecided": decided,
    "PaymentDecided": decided,
    "ExpiryNoticeScheduled": decided,
    "WarrantyExpiryNoticeDue": lambda s: f"保修将于 {s['until']} 到期，应书面通知客户续保{rule_ref('WAR-EXPIRY-NOTICE')}",
    "RepairRecorded": lambda s: f"记录维修：{s['problem']}，{word(OUTCOMES, s['outcome'])}"
    + ("，影响客户停机" if s["stops_work"] else ""),
    "WarrantyExtended": decided,
    "ReplacementDecided": decided,
    "ComplaintClosed": lambda s: f"{s['actor']} 关闭投诉：{s['outcome']}",
    "EquipmentRegistered": lambda s: f"设备 {s['serial']} 建立保修档案",
    "EquipmentRepairNoted": lambda s: f"设备档案记下维修：{s['problem']}，{word(OUTCOMES, s['outcome'])}",
    "EquipmentWarrantyExtended": lambda s: f"设备保修延长 {s['days']} 天{rule_ref('WAR-EXTEND-60D')}",
    "PersonalDataErased": lambda s: f"{person(s['erased_by'], s['role'])} 应客户要求删除其个人信息（销毁 {len(s['key_ids'] or [])} 个密钥）：{s['reason']}{rule_ref('PII-ERASE')}",
    "CalendarPublished": lambda s: f"{s['published_by']} 发布 {s['year']} 年工作日历（{s['calendar_version']}）",
    # dispatch
    "PartsReplaced": _parts_replaced,
    "RosterOpened": lambda s: "工程师名册建立",
    "EngineerRegistered": lambda s: f"工程师 {s['name']}（{s['engineer_id']}，{s['region']}）加入名册",
    "EngineerUpdated": lambda s: f"工程师 {s['engineer_id']} 信息变更",
    "EngineerLoadChanged": lambda s: f"工程师 {s['engineer_id']} 工作量{'增加' if (s['delta'] or 0) > 0 else '减少'}"
    f" {abs(s['delta'] or 0)}",
    "DispatchCaseOpened": lambda s: "派工立案",
    "OnSiteServiceNeeded": lambda s: f"需要上门服务（{word(CAUSES, s['cause'])}，{s['level']} 级）",
    "PayerNoted": lambda s: f"派工记下付费方：{word(PAYERS, s['payer'])}" + (f"（{s['applies']}）" if s["applies"] else ""),
    "FeeConsentDecided": decided,
    "FeeConsentRecorded": lambda s: f"客户{'同意' if s['accepted'] else '拒绝'}收费 {money(s['fee_fen'])}（方案：{s['plan']}）"
    f"{rule_ref('DSP-FEE-CONSENT')}",
    "DispatchApproved": lambda s: f"{person(s['actor'], 'deputy_gm')} 批准派工：{s['reason']}{rule_ref('DSP-FEE-CONSENT')}",
    "EngineerAssigned": decided,
    "EngineerDispatched": lambda s: f"派出工程师 {s['engineer_id']}（派工单 {s['dispatch_order_no']}）",
    "EngineerWithdrawn": lambda s: f"{s['actor']} 撤回工程师 {s['engineer_id']}：{s['reason']}{rule_ref('DSP-ASSIGN')}",
    "EngineerArrived": lambda s: f"工程师 {s['engineer_id']} 到场",
    "ServiceFormSigned": _form,
    "RepairOutcomeRecorded": lambda s: f"维修结果：{s['problem']}，{word(OUTCOMES, s['outcome'])}",
    "ReturnApproved": lambda s: f"{person(s['actor'], 'tq')} 批准工程师离场{rule_ref('DSP-RETURN-APPROVAL')}",
    "EngineerReturned": _with_decision(lambda s: f"工程师 {s['engineer_id']} 离场"),
    "ReportFiled": lambda s: f"{s['actor']} 提交书面报告，报销 {money(s['expense_claim_fen'])}，"
    f"代收款 {money(s['payments_collected_fen'])}{rule_ref('DSP-REPORT-3WD')}",
    "AuditStarted": lambda s: f"{s['actor']} 开始审核，审核人 {s['auditor']}{rule_ref('DSP-AUDIT-5WD')}",
    "AuditCompleted": lambda s: f"{s['actor']} 完成审核，核准费用 {money(s['cost_approved_fen'])}{rule_ref('DSP-AUDIT-5WD')}",
    "ServiceFaultDecided": _with_decision(lambda s: f"技质部 {s['actor']} 调查结论：{s['finding']}"),
    "FollowUpScheduled": decided,
    "FollowUpDue": lambda s: f"第 {s['quarter']} 季度回访到期{rule_ref('DSP-FOLLOWUP')}",
    "FollowUpRecorded": lambda s: f"{s['actor']} 完成第 {s['quarter']} 季度回访：{s['notes']}",
    "IntakeFineNoted": _fine_noted,
    "PartFineNoted": _fine_noted,
    "FineDisputed": lambda s: f"{s['actor']} 对罚款提出申诉：{s['reason']}",
    "FineReversed": lambda s: f"{s['actor']} 撤销 {s['fine_rule']} 罚款 {money(s['amount_fen'])}"
    f"（{person(s['person'], s['role'])}）：{s['reason']}",
    "IntakeEscalationNoted": _with_decision(lambda s: f"跟进升级（至{word(ROLES, s['to'])}，因 {s['trigger_rule']}）"),
    "EscalationAcknowledged": lambda s: f"{s['actor']} 确认升级：{s['note']}",
    "EscalationForwarded": lambda s: f"升级无人确认，转至{word(ROLES, s['forwarded_to'])}{rule_ref('ESC-CHAIN')}",
    # parts
    "PartRecorded": _with_decision(lambda s: f"旧件 {(s['record'] or {}).get('material_code', '')} 登记{rule_ref('PRT-RECORD')}"),
    "PartRecordIncomplete": lambda s: f"旧件记录缺少 {'、'.join(s['missing'] or [])}{rule_ref('PRT-RECORD')}",
    "PartRecordCompleted": lambda s: f"{person(s['actor'], s['role'])} 补全旧件记录{rule_ref('PRT-RECORD')}",
    "PartHandInDelayReported": lambda s: f"{s['actor']} 报告旧件延迟交回：{s['reason']}",
    "PartOverdue": lambda s: f"旧件逾期 {s['delay_days']} 天{'（已说明原因）' if s['excused'] else ''}{rule_ref('PRT-DUE-7D')}",
    "PartFineLevied": _fine_levied,
    "PartHandedIn": lambda s: f"{s['actor']} 于 {s['handed_in_on']} 交回旧件" + (f"，逾期 {s['delay_days']} 天" if s["late"] else ""),
    "PartRecovered": lambda s: f"仓管员 {s['actor']} 于 {s['recovered_on']} 收回旧件",
    "PartShipped": lambda s: f"{s['actor']} 于 {s['shipped_on']} 发运旧件返司",
    "PartReturned": lambda s: f"总部于 {s['received_on']} 收到旧件",
    "DispositionDecided": lambda s: f"{s['actor']} 决定旧件{word(DISPOSITIONS, s['disposition'])}{rule_ref('PRT-DISPOSITION')}",
    "SaleReported": lambda s: f"{s['actor']} 报告旧件售予 {s['buyer']}，售价 {money(s['price_fen'])}{rule_ref('PRT-PRICE-FLOOR')}",
    "SaleVerified": lambda s: f"旧件管理专干 {s['actor']} 核实销售报告",
    "SaleApproved": lambda s: f"总经理 {s['actor']} 批准低于底价销售{rule_ref('PRT-PRICE-FLOOR')}",
    "PartSold": _sold,
    "DisposalRequested": lambda s: f"{s['actor']} 申请{word(DISPOSITIONS, s['disposition'])}，原值 {money(s['original_value_fen'])}"
    f"{rule_ref('PRT-SCRAP-APPROVAL')}",
    "DisposalApproved": lambda s: f"{person(s['actor'], s['role'])} 批准处置{rule_ref('PRT-SCRAP-APPROVAL')}",
    "DisposalRelevelled": lambda s: f"同规格批次合计超限，须更高级别审批（原为{word(LEVELS, s['level_before'])}级）"
    f"{rule_ref('PRT-SCRAP-APPROVAL')}",
    "PartDisposed": lambda s: f"旧件已{word(DISPOSITIONS, s['disposition'])}（{s['disposed_on']}）",
    "ResponsibilityReviewStarted": _with_decision(lambda s: f"{s['actor']} 开始责任判定（{word(PART_CLASSES, s['part_class'])}）"),
    "ResponsibilityEscalated": _escalation,
    "ResponsibilitySettled": lambda s: f"责任判定：费用 {money(s['cost_fen'])} 归于 {s['party']}"
    + ("（逾期）" if s["late"] else "") + rule_ref("PRT-RESPONSIBILITY"),
    "SupplierClaimOpened": lambda s: f"向供应商 {s['supplier']} 索赔 {money(s['amount_fen'])}{rule_ref('PRT-SUPPLIER-CLAIM')}",
    "SupplierClaimSettled": lambda s: f"供应商索赔结清，收回 {money(s['recovered_fen'])}",
    "MarketPriceRecorded": lambda s: f"记录 {s['region']} {s['day']} 废钢市场价 每吨 {money(s['price_per_ton_fen'])}",
    "MarketPriceRevised": lambda s: f"更正 {s['region']} {s['day']} 废钢市场价 每吨 {money(s['price_per_ton_fen'])}",
    "ScrapLedgerOpened": lambda s: f"物料 {s['material_code']} 的报废台账建立",
    "ScrapLotAdded": lambda s: f"报废台账增加一批（原值 {money((s['lot'] or {}).get('original_value_fen'))}）",
}  # fmt: skip


def department(value: Any) -> str:
    return word(DEPARTMENTS, value)


def sentence(event_type: str, said: Said) -> str:
    """The event's sentence; never fails on odd data (the raw type is shown instead)."""
    say = SENTENCES.get(event_type)
    if say is None:
        return f"事件 {event_type}"
    try:
        return say(said)
    except (KeyError, TypeError, ValueError, AttributeError):
        return f"事件 {event_type}"
