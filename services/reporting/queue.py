"""The work queue (工作队列): per role, what is waiting and by when, from the complaint views.

Pure functions of the read model (services/reporting/projection.py, fold_dispatch.py, fold_parts.py):
`items(view, now)` lists what one complaint waits for, for every role; `queue(views, role, person, now)`
keeps one role's (and, given a person, that person's or anyone-in-the-role's) items, sorted by due
time, undated items last. An item is overdue when its deadline was breached (DeadlineBreached,
PartOverdue: the services' own verdicts) or its due time is before `now`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

CHINA = ZoneInfo("Asia/Shanghai")

ROLE_LABELS = {
    "agent": "客服/受理人",
    "tq": "技质部",
    "engineer": "售后服务技术人员",
    "warehouse_keeper": "仓管员",
    "old_parts_officer": "旧件管理专干",
    "branch_manager": "销售分公司经理",
    "deputy_gm": "分管副总",
    "gm": "总经理",
    "finance": "财务部",
    "ops": "运维/审计",
}
"""docs/rules.md §7. `ops` reads everything: its queue is every role's."""

ESCALATION_ROLES = {"branch_manager": ("branch_manager",), "management": ("gm", "deputy_gm"),
                    "deputy_gm": ("deputy_gm",)}  # fmt: skip
DISPOSAL_ROLES = {"site": "branch_manager", "department": "old_parts_officer", "leadership": "gm"}
FOLLOWUP_AHEAD = dt.timedelta(days=14)
"""A quarterly follow-up (DSP-FOLLOWUP) shows once it is due within this long."""
CLOSED = frozenset({"closed", "void"})


class Item(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    title: str
    role: str
    complaint_no: str
    person: str | None = None
    """Who it waits for; None: anyone with the role."""
    due_at: str | None = None
    """China time (+08:00); for a due date (`all_day`), the last second of that day."""
    all_day: bool = False
    overdue: bool = False
    rule: str | None = None
    detail: str = ""
    part_id: str | None = None
    customer: str | None = None
    """The customer's name as the read model holds it (sealed): the API reveals or masks it (PII-VIEW)."""


def china(value: str | dt.datetime) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        raise ValueError(f"a time without its UTC offset: {value}")
    return moment.astimezone(CHINA)


def end_of_day(day: str) -> dt.datetime:
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(23, 59, 59), tzinfo=CHINA)


class _Collector:
    """Builds one view's items; `now` decides overdue where no service gave a verdict."""

    def __init__(self, view: dict[str, Any], now: dt.datetime) -> None:
        self.view = view
        self.now = now
        self.out: list[Item] = []
        self.no: str = view["complaint_no"]
        equipment, site = view.get("equipment") or {}, view.get("site") or {}
        self.customer: str | None = (view.get("customer") or {}).get("name") or None
        self.about = " · ".join(x for x in (equipment.get("model"), site.get("region")) if x)

    def add(self, roles: Iterable[str], kind: str, title: str, *, due: dt.datetime | None = None,
            breached: bool = False, all_day: bool = False, person: str | None = None, rule: str | None = None,
            detail: str = "", part_id: str | None = None) -> None:  # fmt: skip
        overdue = breached or (due is not None and due < self.now)
        for role in roles:
            self.out.append(Item(kind=kind, title=title, role=role, complaint_no=self.no, person=person,
                                 due_at=None if due is None else due.isoformat(), all_day=all_day, overdue=overdue,
                                 rule=rule, detail=detail or self.about, part_id=part_id,
                                 customer=self.customer))  # fmt: skip

    def deadline(self, rule: str) -> dict[str, Any] | None:
        """The rule's deadline if it is set and not met yet."""
        for deadline in self.view.get("deadlines") or []:
            if deadline["rule"] == rule and deadline.get("due_at") and not deadline.get("met_at"):
                return dict(deadline)
        return None

    def add_deadline(self, rule: str, roles: Iterable[str], kind: str, title: str, person: str | None) -> bool:
        deadline = self.deadline(rule)
        if deadline is None:
            return False
        self.add(roles, kind, title, due=china(deadline["due_at"]), breached=bool(deadline.get("breached")),
                 person=person, rule=rule)  # fmt: skip
        return True


def items(view: dict[str, Any], now: dt.datetime) -> list[Item]:
    """Everything one complaint waits for, for every role."""
    c = _Collector(view, now)
    if view.get("status") == "void":
        return []
    if view.get("status") not in CLOSED:
        _intake(c)
        _dispatch(c)
    _fines_and_escalations(c)
    for part in view.get("parts") or []:
        _part(c, part)
    return c.out


def _intake(c: _Collector) -> None:
    view, agent = c.view, c.view.get("agent_id")
    if view.get("relayed_at") is None:
        c.add_deadline("INT-RELAY-4WH", ("agent",), "relay", "转交技质部", agent)
    if view.get("record_incomplete"):
        missing = "、".join(view.get("missing_fields") or [])
        c.add(("agent",), "complete_record", "补全投诉记录", person=agent, rule="INT-REQUIRED",
              detail=f"缺：{missing}" if missing else "")  # fmt: skip
    reply = c.deadline("INT-REPLY-8WH")
    due = None if reply is None else china(reply["due_at"])
    breached = bool(reply and reply.get("breached"))
    if view.get("kind") == "consultation" and view.get("answer") is None:
        c.add(("tq",), "answer", "答复咨询", due=due, breached=breached, rule="INT-REPLY-8WH")
    elif view.get("kind") == "fault" and view.get("cause") is None:
        c.add(("tq",), "classify", "分类（原因、等级、是否上门）", due=due, breached=breached, rule="INT-REPLY-8WH")
    elif view.get("kind") == "fault" and view.get("solution") is None:
        c.add(("tq",), "solution", "决定解决方案", due=due, breached=breached, rule="INT-REPLY-8WH")
    # The receiver contacts the customer; technical quality may too (docs/rules.md §9).
    c.add_deadline("INT-LEVELS", ("agent",), "first_contact", "首次响应（联系客户）", agent)
    c.add_deadline("INT-LEVELS", ("tq",), "first_contact", "首次响应（联系客户）", None)


def _dispatch(c: _Collector) -> None:
    dispatch = c.view.get("dispatch")
    if not dispatch:
        return
    status = dispatch.get("status")
    engineer = (dispatch.get("engineer") or {}).get("id") or (dispatch.get("form") or {}).get("engineer_id")
    if status == "awaiting_fee_consent":
        c.add(("agent",), "fee_consent", "客户确认服务费用", rule="DSP-FEE-CONSENT", person=c.view.get("agent_id"))
        c.add(("tq",), "fee_consent", "客户确认服务费用", rule="DSP-FEE-CONSENT")
    elif status == "awaiting_deputy_gm":
        ack = next((e.get("ack_due_at") for e in c.view.get("escalations") or []
                    if e.get("rule") == "DSP-FEE-CONSENT" and e.get("status") == "open"), None)  # fmt: skip
        c.add(("deputy_gm",), "approve_dispatch", "审批派工（客户拒付费用）", due=china(ack) if ack else None,
              rule="DSP-FEE-CONSENT")  # fmt: skip
    elif status == "awaiting_engineer":
        c.add(("tq",), "assign", "重新派工（暂无可派工程师）", rule="DSP-ASSIGN")
    c.add_deadline("DSP-ARRIVE", ("engineer",), "arrive", "到达现场", engineer)
    back = dispatch.get("return") or {}
    if dispatch.get("form") and not back.get("approved_at") and not back.get("returned_at"):
        c.add(("tq",), "approve_return", "批准工程师离场", rule="DSP-RETURN-APPROVAL")
    c.add_deadline("DSP-REPORT-3WD", ("engineer",), "report", "提交书面汇报", engineer)
    auditor = (dispatch.get("auditor") or {}).get("id")
    c.add_deadline("DSP-AUDIT-5WD", ("tq",), "audit", "服务质量确认与费用审核", auditor)
    for followup in dispatch.get("followups") or []:
        due = china(followup["due_at"]) if followup.get("due_at") else None
        soon = due is not None and due - c.now < FOLLOWUP_AHEAD
        if followup.get("status") == "due" or (followup.get("status") == "scheduled" and soon):
            c.add(("agent", "tq"), "follow_up", f"季度回访（{followup.get('quarter')}）", due=due, rule="DSP-FOLLOWUP")


def _fines_and_escalations(c: _Collector) -> None:
    for fine in c.view.get("fines") or []:
        what = f"{fine.get('rule')} {fine.get('amount_yuan', '')} 元"
        if fine.get("status") == "disputed":
            c.add(("branch_manager",), "decide_dispute", "处理罚款申诉", rule=fine.get("rule"),
                  detail=f"{what}，{fine.get('person') or '未认定'}：{fine.get('dispute_reason') or ''}")  # fmt: skip
        elif fine.get("status") == "levied" and fine.get("unattributed"):
            c.add(("branch_manager",), "attribute_fine", "认定罚款责任人", rule=fine.get("rule"), detail=what)
    for escalation in c.view.get("escalations") or []:
        if escalation.get("status") != "open" or escalation.get("rule") == "DSP-FEE-CONSENT":
            continue  # the deputy GM's approval of the dispatch answers a DSP-FEE-CONSENT escalation
        ack, rule = escalation.get("ack_due_at"), escalation.get("rule")
        c.add(ESCALATION_ROLES.get(escalation.get("to", ""), ("branch_manager",)), "acknowledge", "确认升级事项",
              due=china(ack) if ack else None, rule=rule, detail=f"{rule} 超时未办 · {c.about}")  # fmt: skip


def _part(c: _Collector, part: dict[str, Any]) -> None:
    status, pid = part.get("status"), part.get("part_id")
    label = f"{part.get('material_code')} × {part.get('quantity')}（{part.get('description') or '旧件'}）"

    def add(roles: Iterable[str], kind: str, title: str, **kw: Any) -> None:
        c.add(roles, kind, title, part_id=pid, detail=label, **kw)

    if status == "awaiting_hand_in" and part.get("due_date"):
        add(("engineer",), "hand_in", "交旧件", due=end_of_day(part["due_date"]), all_day=True,
            breached=bool(part.get("overdue")), person=part.get("responsible_engineer"), rule="PRT-DUE-7D")  # fmt: skip
    elif status == "handed_in":
        add(("warehouse_keeper",), "recover", "确认回收旧件")
    elif status == "recovered" and part.get("disposition") == "return":
        add(("warehouse_keeper",), "ship", "旧件返司")
    if part.get("record_incomplete"):
        add(("warehouse_keeper", "old_parts_officer"), "complete_part_record", "补全旧件记录", rule="PRT-RECORD")
    sale = part.get("sale") or {}
    if sale.get("status") == "reported" and not sale.get("verified_by"):
        add(("old_parts_officer",), "verify_sale", "核验销售报告与报价", rule="PRT-PRICE-FLOOR")
    elif sale.get("status") == "reported" and sale.get("below_floor") and not sale.get("approved_by"):
        add(("gm",), "approve_sale", "审批低于底价的销售", rule="PRT-PRICE-FLOOR")
    disposal = part.get("disposal") or {}
    if disposal.get("awaiting") and not disposal.get("approved_by"):
        role = DISPOSAL_ROLES.get(str(disposal.get("level")), "gm")
        add((role,), "approve_disposal", "审批报废/赠送", rule="PRT-SCRAP-APPROVAL")
    review = part.get("responsibility") or {}
    if review and not review.get("settled_on") and review.get("due_date"):
        add(("tq",), "settle_responsibility", "责任判定", due=end_of_day(review["due_date"]), all_day=True,
            rule="PRT-RESPONSIBILITY")  # fmt: skip
    claim = part.get("supplier_claim") or {}
    if claim.get("status") == "open":
        add(("finance",), "settle_claim", "供应商索赔结算", rule="PRT-SUPPLIER-CLAIM")


def sort_key(item: Item) -> tuple[bool, dt.datetime, str]:
    """By due time, undated last, then by complaint; a complaint's items keep their order (the stable sort)."""
    due = china(item.due_at) if item.due_at else dt.datetime.max.replace(tzinfo=dt.UTC)
    return (item.due_at is None, due, item.complaint_no)


def queue(views: Iterable[dict[str, Any]], role: str, person: str | None, now: dt.datetime) -> list[Item]:
    """One role's work (every role's for ops), a person's own and their role's unassigned, by due time."""
    found = [
        item
        for view in views
        for item in items(view, now)
        if (role == "ops" or item.role == role) and (person is None or item.person in (None, person))
    ]
    if role == "ops":  # one line per piece of work, whoever it waits for
        unique = {(i.kind, i.complaint_no, i.part_id, i.rule, i.detail): i for i in found}
        found = list(unique.values())
    return sorted(found, key=sort_key)


def summary(found: list[Item], role: str, person: str | None, now: dt.datetime) -> dict[str, Any]:
    """The JSON of GET /api/v1/queue."""
    return {
        "role": role,
        "role_label": ROLE_LABELS.get(role, role),
        "person": person,
        "now": now.astimezone(CHINA).isoformat(),
        "count": len(found),
        "overdue": sum(1 for i in found if i.overdue),
        "items": msgspec.to_builtins(found),
    }
