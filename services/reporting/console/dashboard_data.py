"""The dashboard's panels, computed from complaint views. Pure: views and a time in, JSON out.

Every panel covers the complaints the filters select (received in the period, in the region, of the
model); the views come from `ReportingStore.views_for_dashboard`. Months and quarters are China-time; times come out
as +08:00; amounts as integer fen plus a 元 string.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from services.reporting.api_dispatch import ledger, ledger_entries
from services.reporting.kpis import CHINA
from services.reporting.kpis import compute as compute_kpis
from services.reporting.money import yuan

View = dict[str, Any]
HORIZON = dt.timedelta(hours=4)
ITEMS = 100  # at most this many rows in each list panel
KPI_LABELS = {
    "service_on_time": ("服务及时率", "上门服务按时到达（DSP-ARRIVE）的次数 ÷ 应到达次数"),
    "customer_satisfaction": ("客户满意率", "IVR 回访评 4–5 分的次数 ÷ 回访总数"),
    "service_at_fault": ("用户抱怨率（确属服务责任的）", "技质部确认属服务责任（DSP-SERVICE-FAULT）的投诉 ÷ 投诉总数"),
}
CLOSED = frozenset({"closed", "void"})


def china(iso: str | None) -> str | None:
    """An ISO time in China time (+08:00), or None."""
    return None if not iso else dt.datetime.fromisoformat(iso).astimezone(CHINA).isoformat()


def month_of(iso: str) -> str:
    return dt.datetime.fromisoformat(iso).astimezone(CHINA).strftime("%Y-%m")


def kpi_cards(views: Sequence[View], computed: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Each KPI against its target, with its definition in Chinese (and the English one)."""
    cards = []
    for kpi in (computed or compute_kpis(views))["kpis"]:
        label, definition = KPI_LABELS[kpi["kpi"]]
        cards.append({**kpi, "label": label, "definition_zh": definition})
    return cards


def kpi_trend(views: Sequence[View]) -> dict[str, Any]:
    """Each KPI per month of receipt: value (None without data) and whether it met its target."""
    by_month: dict[str, list[View]] = defaultdict(list)
    for view in views:
        by_month[month_of(view["received_at"])].append(view)
    months = sorted(by_month)
    series: dict[str, list[dict[str, Any]]] = {name: [] for name in KPI_LABELS}
    for month in months:
        for kpi in compute_kpis(by_month[month])["kpis"]:
            series[kpi["kpi"]].append(
                {
                    "month": month,
                    "value": kpi["value"],
                    "met": kpi["met"],
                    "numerator": kpi["numerator"],
                    "denominator": kpi["denominator"],
                }
            )
    return {"months": months, "series": series}


def complaints_by_quarter(views: Sequence[View], computed: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    by_quarter: list[dict[str, Any]] = (computed or compute_kpis(views))["by_quarter"]
    return by_quarter


def deadline_watch(views: Iterable[View], now: dt.datetime) -> dict[str, Any]:
    """Open deadlines (not met, complaint not closed) already breached, and those due within 4 hours."""
    soon: Counter[str] = Counter()
    breached: Counter[str] = Counter()
    items: list[dict[str, Any]] = []
    for view in views:
        if view.get("status") in CLOSED:
            continue
        for deadline in view.get("deadlines") or []:
            if deadline.get("met_at") or not deadline.get("due_at"):
                continue
            due = dt.datetime.fromisoformat(deadline["due_at"])
            if deadline.get("breached") or due <= now:
                state = "breached"
                breached[deadline["rule"]] += 1
            elif due <= now + HORIZON:
                state = "due_soon"
                soon[deadline["rule"]] += 1
            else:
                continue
            items.append(
                {
                    "complaint_no": view["complaint_no"],
                    "rule": deadline["rule"],
                    "state": state,
                    "due_at": china(deadline["due_at"]),
                }
            )
    items.sort(key=lambda item: (item["due_at"], item["complaint_no"]))
    rules = sorted(set(soon) | set(breached))
    return {
        "as_of": now.astimezone(CHINA).isoformat(),
        "horizon_hours": HORIZON.total_seconds() / 3600,
        "by_rule": [{"rule": r, "breached": breached[r], "due_soon": soon[r]} for r in rules],
        "breached": sum(breached.values()),
        "due_soon": sum(soon.values()),
        "items": items[:ITEMS],
    }


def fines(views: Iterable[View]) -> dict[str, Any]:
    """Fines net of reversals by person, department and month (the month of the fine or its reversal)."""
    rows = [
        {"complaint_no": v["complaint_no"], "fines": v.get("fines") or [], "reversals": v.get("fine_reversals")}
        for v in views
    ]
    entries = ledger_entries(rows)
    totals = ledger(entries)
    months: dict[str, dict[str, int]] = defaultdict(lambda: {"levied_fen": 0, "reversed_fen": 0, "fines": 0})
    for entry in entries:
        month = months[month_of(entry["at"])]
        if entry["event"] == "FineLevied":
            month["levied_fen"] += entry["amount_fen"]
            month["fines"] += 1
        else:
            month["reversed_fen"] -= entry["amount_fen"]
    by_month = []
    for name, month in sorted(months.items()):
        net = month["levied_fen"] - month["reversed_fen"]
        by_month.append({"month": name, **month, "net_fen": net, "net_yuan": yuan(net)})
    return {
        "by_person": totals["by_person"],
        "by_department": [{**d, "department": d["department"] or "未归属"} for d in totals["by_department"]],
        "by_month": by_month,
        "unattributed": len(totals["unattributed"]),
        "net_fen": totals["net_fen"],
        "net_yuan": totals["net_yuan"],
    }


def escalations(views: Iterable[View], now: dt.datetime) -> dict[str, Any]:
    """Escalations by trigger rule and status; `unacknowledged` are still `open`, `overdue` past their ack time."""
    by_rule: dict[str, Counter[str]] = defaultdict(Counter)
    items = []
    for view in views:
        for escalation in view.get("escalations") or []:
            status = escalation.get("status") or "open"
            by_rule[escalation.get("rule") or "?"][status] += 1
            if status != "open":
                continue
            ack_due = escalation.get("ack_due_at")
            overdue = ack_due is not None and dt.datetime.fromisoformat(ack_due) <= now
            items.append(
                {
                    "complaint_no": view["complaint_no"],
                    "escalation_id": escalation.get("escalation_id"),
                    "rule": escalation.get("rule"),
                    "to": escalation.get("to"),
                    "reason": escalation.get("reason"),
                    "raised_at": china(escalation.get("raised_at")),
                    "ack_due_at": china(ack_due),
                    "overdue": overdue,
                }
            )
    items.sort(key=lambda item: (item["raised_at"] or "", item["complaint_no"]))
    return {
        "by_rule": [
            {"rule": rule, **{s: counts[s] for s in ("open", "acknowledged", "forwarded")}}
            for rule, counts in sorted(by_rule.items())
        ],
        "open": sum(counts["open"] + counts["acknowledged"] for counts in by_rule.values()),
        "unacknowledged": len(items),
        "overdue": sum(1 for item in items if item["overdue"]),
        "items": items[:ITEMS],
    }


def old_parts(views: Iterable[View], today: dt.date) -> dict[str, Any]:
    """Old parts not handed in after their due date, and sales or scrap waiting for approval (PRT-*)."""
    overdue, sales, scrap = [], [], []
    for view in views:
        for part in view.get("parts") or []:
            row = {
                "complaint_no": view["complaint_no"],
                "part_id": part["part_id"],
                "description": part.get("description"),
                "engineer": part.get("responsible_engineer"),
                "region": part.get("region"),
            }
            due = part.get("due_date")
            late = part.get("overdue") or (due is not None and dt.date.fromisoformat(due) < today)
            if part.get("status") == "awaiting_hand_in" and late:
                overdue.append({**row, "due_date": due, "delay_days": part.get("delay_days") or 0})
            sale = part.get("sale") or {}
            if sale.get("status") == "reported" and not sale.get("approved_by"):
                waiting = "核实" if not sale.get("verified_by") else "审批"
                price = sale.get("price_fen") or 0
                sales.append(
                    {
                        **row,
                        "price_fen": price,
                        "price_yuan": yuan(price),
                        "waiting_for": waiting,
                        "below_floor": sale.get("below_floor"),
                    }
                )
            disposal = part.get("disposal") or {}
            if disposal.get("awaiting"):
                total = disposal.get("total_fen") or 0
                scrap.append(
                    {
                        **row,
                        "disposition": disposal.get("disposition"),
                        "level": disposal.get("level"),
                        "total_fen": total,
                        "total_yuan": yuan(total),
                        "waiting_for": disposal["awaiting"],
                    }
                )
    overdue.sort(key=lambda r: (r["due_date"], r["part_id"]))
    return {
        "overdue": len(overdue),
        "sales_awaiting": len(sales),
        "scrap_awaiting": len(scrap),
        "overdue_items": overdue[:ITEMS],
        "sales_items": sales[:ITEMS],
        "scrap_items": scrap[:ITEMS],
    }


def dashboard(views: Sequence[View], now: dt.datetime) -> dict[str, Any]:
    """Every panel of the dashboard, for the selected complaints, as of `now`."""
    computed = compute_kpis(views)
    return {
        "generated_at": now.astimezone(CHINA).isoformat(),
        "complaints": len(views),
        "kpis": kpi_cards(views, computed),
        "kpi_trend": kpi_trend(views),
        "complaints_by_quarter": complaints_by_quarter(views, computed),
        "deadlines": deadline_watch(views, now),
        "fines": fines(views),
        "escalations": escalations(views, now),
        "old_parts": old_parts(views, now.astimezone(CHINA).date()),
    }
