"""Quality reports (docs/rules.md §6) from the complaint views. Pure: views in, rows out.

- QLT-EXTERNAL-COST (001 §9.4): the external failure cost (外部故障成本) of each complaint and per quarter.
- QLT-STATS (001 §9.3): complaints, returns and cost per quarter by product model and cause.
- QLT-INCIDENT-CLASS (004 质量问题处理管理规定 §3): quality incidents by model and production batch,
  classed major, batch or general.

A *return* (售后反馈或退回) is a fault complaint (not a consultation, not a void number) that technical
quality has not classed non-quality; it counts once per unit (equipment serial; a complaint without a
serial is a unit of its own). Quarters are China-time quarters of the day the complaint was received.
Money stays integer fen; each amount also comes as a 元 string (`*_yuan`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from services.reporting.kpis import quarter_of
from services.reporting.money import yuan

View = dict[str, Any]

BATCH_RETURNS = 50
"""QLT-INCIDENT-CLASS: 售后反馈或退回同一型号同一生产日期数量大于等于 50 件 (004 质量问题处理管理规定 §3.1.2)."""
MAJOR_RETURNS = 500
"""QLT-INCIDENT-CLASS: 出厂产品批大于等于 500 件退货 (§3.2.1)."""
MAJOR_LOSS_FEN = 2_000_000
"""QLT-INCIDENT-CLASS: 损失金额大（大于等于 2 万元）(§3.2.3), in fen."""
COST_PARTS = ("service_fen", "parts_fen", "gross_fen", "collected_fen", "recovered_fen", "net_fen")


def is_return(view: View) -> bool:
    return view.get("kind") not in ("consultation", "void") and view.get("cause") != "non_quality"


def unit_of(view: View) -> str:
    serial = ((view.get("equipment") or {}).get("serial") or "").strip()
    return f"serial:{serial}" if serial else f"complaint:{view['complaint_no']}"


def failure_cost(view: View) -> dict[str, int]:
    """QLT-EXTERNAL-COST of one complaint, in fen: the service cost (what tq approved in the audit,
    DSP-AUDIT-5WD; before the audit, what the engineer claimed in the report), the parts replaced
    (the old parts recorded, PRT-RECORD; else the parts total of the service form), less what the
    customer paid (payments collected) and what was recovered (supplier claims settled, old parts sold)."""
    dispatch = view.get("dispatch") or {}
    audit, report, form = dispatch.get("audit"), dispatch.get("report"), dispatch.get("form")
    if audit is not None:
        service = int(audit.get("cost_approved_fen") or 0)
    else:
        service = int((report or {}).get("expense_claim_fen") or 0)
    parts = view.get("parts") or []
    if parts:
        parts_fen = sum(int(p.get("total_fen") or 0) for p in parts)
    else:
        parts_fen = int((form or {}).get("parts_total_fen") or 0)
    collected = int((report or {}).get("payments_collected_fen") or 0)
    recovered = sum(int((p.get("supplier_claim") or {}).get("recovered_fen") or 0) for p in parts)
    recovered += sum(int((p.get("sale") or {}).get("proceeds_fen") or 0) for p in parts if p.get("status") == "sold")
    gross = service + parts_fen
    return {"service_fen": service, "parts_fen": parts_fen, "gross_fen": gross, "collected_fen": collected,
            "recovered_fen": recovered, "net_fen": gross - collected - recovered}  # fmt: skip


def _with_yuan(amounts: dict[str, int]) -> dict[str, Any]:
    out: dict[str, Any] = dict(amounts)
    for key, fen in amounts.items():
        if key != "complaints":  # a count, not an amount
            out[key.removesuffix("_fen") + "_yuan"] = yuan(fen)
    return out


def external_failure_cost(views: Iterable[View]) -> dict[str, Any]:
    """QLT-EXTERNAL-COST per quarter (the complaint's quarter) and in total."""
    quarters: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(("complaints", *COST_PARTS), 0))
    total = dict.fromkeys(("complaints", *COST_PARTS), 0)
    for view in views:
        cost = failure_cost(view)
        row = quarters[quarter_of(view["received_at"])]
        for bucket in (row, total):
            bucket["complaints"] += 1
            for key in COST_PARTS:
                bucket[key] += cost[key]
    return {
        "quarters": [{"quarter": q, **_with_yuan(quarters[q])} for q in sorted(quarters)],
        "total": {"quarter": "total", **_with_yuan(total)},
    }


def quality_stats(views: Iterable[View]) -> dict[str, Any]:
    """QLT-STATS: per quarter, product model and cause — complaints, faults, returns (units), repairs
    recorded, complaints tq confirmed as the service's fault, and the net external failure cost."""
    keys = ("complaints", "faults", "consultations", "repairs", "service_at_fault", "net_cost_fen")
    rows: dict[tuple[str, str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(keys, 0))
    units: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for view in views:
        key = (quarter_of(view["received_at"]), _model(view), view.get("cause") or "unclassified")
        row = rows[key]
        row["complaints"] += 1
        row["consultations" if view.get("kind") == "consultation" else "faults"] += 1
        row["repairs"] += len(view.get("repairs") or [])
        row["service_at_fault"] += 1 if (view.get("service_fault") or {}).get("at_fault") is True else 0
        row["net_cost_fen"] += failure_cost(view)["net_fen"]
        if is_return(view):
            units[key].add(unit_of(view))
    out = [
        {"quarter": q, "model": m, "cause": c, **row, "returns": len(units[(q, m, c)]),
         "net_cost_yuan": yuan(row["net_cost_fen"])}
        for (q, m, c), row in sorted(rows.items())
    ]  # fmt: skip
    return {"rows": out, "by_quarter": _sum_by(out, "quarter"), "by_model": _sum_by(out, "model"),
            "by_cause": _sum_by(out, "cause")}  # fmt: skip


def _sum_by(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    sums: dict[str, dict[str, int]] = {}
    for row in rows:
        bucket = sums.setdefault(row[key], dict.fromkeys(("complaints", "faults", "returns", "net_cost_fen"), 0))
        for name in bucket:
            bucket[name] += row[name]
    return [{key: k, **v, "net_cost_yuan": yuan(v["net_cost_fen"])} for k, v in sorted(sums.items())]


def _model(view: View) -> str:
    return ((view.get("equipment") or {}).get("model") or "").strip() or "unknown"


def incident_class(returns: int, loss_fen: int) -> tuple[str, list[str]]:
    """QLT-INCIDENT-CLASS of a batch with `returns` units returned and a loss of `loss_fen`, with why."""
    reasons = []
    if returns >= MAJOR_RETURNS:
        reasons.append(f"returns {returns} >= {MAJOR_RETURNS}")
    if loss_fen >= MAJOR_LOSS_FEN:
        reasons.append(f"loss {yuan(loss_fen)} >= {yuan(MAJOR_LOSS_FEN)} yuan")
    if reasons:
        return "major", reasons
    if returns >= BATCH_RETURNS:
        return "batch", [f"returns {returns} >= {BATCH_RETURNS} of one model and production date"]
    return "general", []


SEVERITY = {"major": 0, "batch": 1, "general": 2}


def quality_incidents(views: Iterable[View]) -> dict[str, Any]:
    """QLT-INCIDENT-CLASS: the returns grouped by model and production date (the acceptance date
    stands in, docs/rules.md §6), each group classed; most severe first, then most returns."""
    groups: dict[tuple[str, str | None], list[View]] = defaultdict(list)
    for view in views:
        if is_return(view):
            groups[(_model(view), (view.get("equipment") or {}).get("acceptance_date"))].append(view)
    incidents = []
    for (model, batch), members in groups.items():
        returns = len({unit_of(v) for v in members})
        loss = sum(failure_cost(v)["gross_fen"] for v in members)
        klass, reasons = incident_class(returns, loss)
        received = sorted(v["received_at"] for v in members)
        incidents.append({
            "model": model, "production_date": batch, "production_date_basis": "acceptance_date",
            "class": klass, "reasons": reasons, "returns": returns, "complaints": len(members),
            "loss_fen": loss, "loss_yuan": yuan(loss), "first_received_at": received[0],
            "last_received_at": received[-1], "complaint_nos": sorted(v["complaint_no"] for v in members),
        })  # fmt: skip
    incidents.sort(key=lambda i: (SEVERITY[i["class"]], -i["returns"], i["model"], i["production_date"] or ""))
    counts = dict.fromkeys(SEVERITY, 0)
    for incident in incidents:
        counts[incident["class"]] += 1
    return {
        "thresholds": {"batch_returns": BATCH_RETURNS, "major_returns": MAJOR_RETURNS,
                       "major_loss_fen": MAJOR_LOSS_FEN, "major_loss_yuan": yuan(MAJOR_LOSS_FEN)},
        "counts": counts,
        "incidents": incidents,
    }  # fmt: skip
