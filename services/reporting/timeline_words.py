"""The words of a complaint's timeline (pure, no I/O): rule ids with their seed sections and a short
Chinese title, Chinese names of roles and values, and how amounts and times are shown to people.

`RULE_SEEDS` is the *seed* column of docs/rules.md's rule tables (tests/unit/test_timeline.py checks
that they agree); amounts are shown in 元 from integer fen, times in China time (+08:00).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

CHINA = dt.timezone(dt.timedelta(hours=8))

# docs/rules.md, column "seed" of every rule table (generated from it; a test compares them).
RULE_SEEDS: dict[str, str] = {
    "INT-REGISTER": "000 §5.1",
    "INT-DEDUP": "none (needed by the integration)",
    "INT-REQUIRED": "001 §6.1, 003",
    "INT-RELAY-4WH": "001 §6.1.3",
    "INT-REPLY-8WH": "001 §6.2.1, §6.2.2",
    "INT-CLASSIFY": "000 §5, 000 篇二",
    "INT-LEVELS": "000 篇二, 003 (模板 §六)",
    "WAR-PERIOD": "002 §11(1)",
    "WAR-FREE": "001 §5.1.1.1",
    "WAR-MISUSE": "001 §5.1.1.2, 000 §5.2",
    "WAR-PAYER": "001 §5.1.1.1, §5.1.1.2, §5.2",
    "WAR-EXTEND-60D": "002 item 7",
    "WAR-LEMON": "002 item 8",
    "WAR-LOANER": "002 item 5",
    "WAR-EXPIRY-NOTICE": "002 §15(4), §16(10)",
    "WAR-OUT": "001 §5.2",
    "DSP-ARRIVE": "001 §5.1.1.3, 004 §4.1.1.3",
    "DSP-FEE-CONSENT": "001 §5.2.5, §6.2.4",
    "DSP-ASSIGN": "003, 000 篇二",
    "DSP-FORM": "001 §6.2.5–6.2.6, 004 §3.3.2",
    "DSP-RETURN-APPROVAL": "001 §6.2.6",
    "DSP-REPORT-3WD": "001 §6.2.7",
    "DSP-AUDIT-5WD": "001 §6.2.8",
    "DSP-FOLLOWUP": "001 §8.1",
    "DSP-SERVICE-FAULT": "004 公司售后服务管理制度 §3.2.1",
    "FIN-RELAY-LATE": "001 §6.1.4",
    "FIN-RECORD-INCOMPLETE": "001 §6.1.5",
    "FIN-RETURN-UNAPPROVED": "001 §6.2.6",
    "FIN-AUDIT-LATE": "001 §6.2.8",
    "FIN-FORM-FALSIFIED": "001 §6.2.9",
    "FIN-PART-LATE": "004 §7.4",
    "ESC-CHAIN": "none (project decision)",
    "PRT-RECORD": "004 附件三",
    "PRT-DUE-7D": "004 附件三",
    "PRT-DISPOSITION": "004 §3",
    "PRT-PRICE-FLOOR": "004 §7.2.1–7.2.3",
    "PRT-REMOTE": "004 §7.2.4",
    "PRT-RESPONSIBILITY": "004 §7.3",
    "PRT-SCRAP-APPROVAL": "004 (废旧物资)",
    "PRT-SUPPLIER-CLAIM": "001 §3.1",
    "QLT-INCIDENT-CLASS": "004 质量问题处理管理规定 §3",
    "QLT-EXTERNAL-COST": "001 §9.4",
    "QLT-STATS": "001 §9.3",
    "PII-SEAL": "PIPL art. 51",
    "PII-VIEW": "001 §6.1.1, §7.3, §8.1; PIPL art. 51",
    "PII-ERASE": "PIPL art. 47",
    "PII-LOG": "PIPL art. 51",
    "SOD-OWN-FINE": "none (project decision)",
    "SOD-OWN-FEE": "none (project decision)",
    "SOD-OWN-SALE": "none (project decision)",
}

RULE_TITLES: dict[str, str] = {
    "INT-REGISTER": "投诉编号登记",
    "INT-DEDUP": "同一来电只登记一次",
    "INT-REQUIRED": "投诉记录必填项",
    "INT-RELAY-4WH": "4 个工作小时内转交技质部",
    "INT-REPLY-8WH": "8 个工作小时内答复",
    "INT-CLASSIFY": "按原因、等级和是否上门分类",
    "INT-LEVELS": "按故障等级首次响应",
    "WAR-PERIOD": "保修期",
    "WAR-FREE": "保修期内免费",
    "WAR-MISUSE": "使用不当须收费",
    "WAR-PAYER": "由谁付费",
    "WAR-EXTEND-60D": "停机故障保修延长 60 天",
    "WAR-LEMON": "连续两次修不好换新机",
    "WAR-LOANER": "维修超过 12 小时提供备用机",
    "WAR-EXPIRY-NOTICE": "保修到期前 10 天书面通知",
    "WAR-OUT": "保修期外收费",
    "DSP-ARRIVE": "按距离到场时限",
    "DSP-FEE-CONSENT": "收费须客户确认",
    "DSP-ASSIGN": "按地区、技能和负荷派工",
    "DSP-FORM": "技术服务单",
    "DSP-RETURN-APPROVAL": "经技质部批准方可离场",
    "DSP-REPORT-3WD": "3 个工作日内交书面报告",
    "DSP-AUDIT-5WD": "5 个工作日内审核",
    "DSP-FOLLOWUP": "每季度电话回访",
    "DSP-SERVICE-FAULT": "是否确属服务责任",
    "FIN-RELAY-LATE": "未按时转交罚款",
    "FIN-RECORD-INCOMPLETE": "记录不全罚款",
    "FIN-RETURN-UNAPPROVED": "未经批准离场罚款",
    "FIN-AUDIT-LATE": "审核超期罚款",
    "FIN-FORM-FALSIFIED": "服务单造假罚款",
    "FIN-PART-LATE": "旧件逾期交回罚款",
    "ESC-CHAIN": "无人确认的升级逐级上报",
    "PRT-RECORD": "旧件登记",
    "PRT-DUE-7D": "旧件 7 天内交回",
    "PRT-DISPOSITION": "旧件处置方式",
    "PRT-PRICE-FLOOR": "当地销售底价",
    "PRT-REMOTE": "偏远地区可再降价",
    "PRT-RESPONSIBILITY": "责任判定时限",
    "PRT-SCRAP-APPROVAL": "报废审批级别",
    "PRT-SUPPLIER-CLAIM": "向供应商索赔",
    "QLT-INCIDENT-CLASS": "质量事故分类",
    "QLT-EXTERNAL-COST": "外部故障成本",
    "QLT-STATS": "季度质量统计",
    "PII-SEAL": "个人信息加密保存",
    "PII-VIEW": "个人信息按角色显示",
    "PII-ERASE": "个人信息删除",
    "PII-LOG": "个人信息查阅留痕",
    "SOD-OWN-FINE": "被罚者或申诉人不得撤销该罚款",
    "SOD-OWN-FEE": "记录客户拒付者不得批准派工",
    "SOD-OWN-SALE": "销售报告人不得核实或批准",
}

ROLES = {
    "agent": "受理人", "tq": "技质部", "engineer": "工程师", "warehouse_keeper": "仓管员",
    "old_parts_officer": "旧件管理专干", "branch_manager": "销售分公司经理", "deputy_gm": "分管副总",
    "gm": "总经理", "finance": "财务部", "ops": "运维", "management": "公司领导", "auditor": "审核人",
    "viewer": "查看者",
}  # fmt: skip
DEPARTMENTS = {
    "customer_service": "客服部", "technical_quality": "技质部", "after_sales_service": "售后服务部",
    "warehouse": "仓库", "old_parts": "旧件管理", "sales_branch": "销售分公司", "management": "公司领导",
}  # fmt: skip
SERVICES = {"intake": "受理", "dispatch": "派工", "parts": "旧件"}
KINDS = {"fault": "故障", "consultation": "咨询"}
CAUSES = {"quality": "产品质量问题", "non_quality": "人为或使用不当"}
OUTCOMES = {"fixed": "已修复", "failed": "未修复"}
CHANNELS = {"phone": "电话", "sms": "短信", "email": "电子邮件", "wechat": "微信", "on_site": "上门"}
DISPOSITIONS = {"return": "返司", "sell_local": "当地销售", "destroy_local": "当地销毁", "give_away": "赠送"}
PAYERS = {"company": "公司", "customer": "客户"}
LEVELS = {"site": "现场", "department": "部门", "leadership": "公司领导"}
PART_CLASSES = {
    "domestic_non_critical": "国产非关键件", "domestic_critical": "国产关键件",
    "imported_tested_in_china": "进口件（国内检测）", "imported_tested_abroad": "进口件（国外检测）",
}  # fmt: skip
DEADLINES = {
    "INT-RELAY-4WH": "转交技质部", "INT-REPLY-8WH": "答复或确定解决方案", "INT-LEVELS": "首次响应客户",
    "DSP-ARRIVE": "工程师到场", "DSP-REPORT-3WD": "工程师交书面报告", "DSP-AUDIT-5WD": "技质部审核",
    "WAR-LOANER": "完成维修",
}  # fmt: skip

FIELDS = {
    "due_at": "截止时间", "received_at": "受理时间", "calendar": "工作日历版本", "working_hours": "工作小时",
    "working_days": "工作日", "hours": "小时", "amount_fen": "金额", "person": "人员", "role": "角色",
    "receiver": "受理人", "deadline": "时限", "breached_at": "超时时间", "in_warranty": "是否在保",
    "until": "保修至", "acceptance_date": "验收日期", "on": "日期", "months": "保修月数", "extension_days": "延长天数",
    "cause": "原因", "level": "等级", "kind": "类型", "payer": "付费方", "applies": "适用规则",
    "fee_consent_required": "须客户确认收费", "distance_km": "距离（公里）", "region": "地区", "model": "型号",
    "engineer_id": "工程师", "notice_at": "通知时间", "days_before": "提前天数", "serial": "设备编号",
    "unattributed": "未指定人员", "levy": "罚款", "refused": "拒绝", "approved_at": "批准时间",
    "returned_at": "离场时间", "raised_at": "升级时间", "to": "升级至", "next": "下一级", "quarter": "季度",
    "served_at": "服务时间", "due_date": "到期日", "delay_days": "逾期天数", "floor_fen": "底价",
    "price_fen": "售价", "parts_total_fen": "配件合计", "valid": "有效", "problems": "问题",
    "left_without_approval": "未经批准离场", "approved": "已批准", "may_dispatch": "可以派工",
    "consent_required": "须客户确认", "needs_approval_by": "须批准人", "same_region": "同地区", "load": "工作量",
    "escalate_to_management": "上报公司领导", "met_by": "完成方式", "on_breach_escalate_to": "超时升级至",
}  # fmt: skip

# A field's value in words, by field name (decision inputs and outputs).
VALUE_WORDS: dict[str, dict[str, str]] = {
    **dict.fromkeys(("role", "to", "next", "needs_approval_by", "on_breach_escalate_to", "escalate_to"), ROLES),
    "kind": KINDS, "cause": CAUSES, "payer": PAYERS, "outcome": OUTCOMES, "channel": CHANNELS,
    "disposition": DISPOSITIONS, "recommended": DISPOSITIONS, "part_class": PART_CLASSES, "level": LEVELS,
    "met_by": {"customer_contact": "联系客户", "relay": "转交", "reply": "答复"},
}  # fmt: skip


def rule_ref(rule: str, detail: str | None = None) -> str:
    """`（INT-RELAY-4WH：4 个工作小时，001 §6.1.3）`: the rule id, what it says and its seed section."""
    seed = RULE_SEEDS.get(rule, "")
    where = "项目规则" if not seed or seed.startswith("none") else seed
    return f"（{rule}：{detail or RULE_TITLES.get(rule, '')}，{where}）"


def money(fen: Any) -> str:
    """Integer fen as 元: 5000 → `50 元`, 123450 → `1,234.50 元`."""
    if not isinstance(fen, int) or isinstance(fen, bool):
        return "—"
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}{'' if cents == 0 else f'.{cents:02d}'} 元"


def moment(value: Any) -> dt.datetime | None:
    """A time as recorded (ISO text with either separator, or a datetime) in China time; None if none."""
    if isinstance(value, dt.datetime):
        when = value
    elif isinstance(value, str) and len(value) > 10:
        try:
            when = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return when.astimezone(CHINA) if when.tzinfo else when.replace(tzinfo=CHINA)


def china_time(value: Any) -> str:
    """`2026-11-23 10:15` in China time; a date stays a date; anything else as given."""
    when = moment(value)
    if when is not None:
        return f"{when:%Y-%m-%d %H:%M}"
    return "—" if value is None else str(value)


def short_time(value: Any, day: dt.date) -> str:
    """`14:15` on `day` (China time), else `2026-11-24 09:15`."""
    when = moment(value)
    if when is None:
        return china_time(value)
    return f"{when:%H:%M}" if when.date() == day else f"{when:%Y-%m-%d %H:%M}"


def person(who: Any, role: Any = None) -> str:
    """`受理人 agent-017`; the role alone when nobody is named."""
    title = ROLES.get(str(role), str(role)) if role else ""
    if not who:
        return f"{title}（未指定具体人员）" if title else "（未指定）"
    return f"{title} {who}" if title else str(who)


def word(table: dict[str, str], value: Any) -> str:
    if value is None:
        return "未定"
    return table.get(str(value), str(value))


def hours(value: Any) -> str:
    """12.0 → `12`, 1.5 → `1.5`."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
