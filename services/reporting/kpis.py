"""Service KPIs (docs/rules.md §6, 004 售后服务管理制度 §3.2.1) from the complaint views. Pure.

- service on time ≥ 90 %: on-site arrivals (DSP-ARRIVE) met by their deadline, of those due;
- customer satisfaction ≥ 85 %: IVR surveys rated 4 or 5, of all surveys;
- complaints with service at fault < 3 %: complaints with a fine on service staff that stands
  (not reversed), of all complaints in the period.
Plus complaints per quarter by product model and cause (001 §9.3).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")
TARGETS: dict[str, tuple[str, float]] = {
    "service_on_time": (">=", 0.90),
    "customer_satisfaction": (">=", 0.85),
    "service_at_fault": ("<", 0.03),
}
DEFINITIONS = {
    "service_on_time": "on-site arrivals (DSP-ARRIVE) met by their deadline / arrivals due",
    "customer_satisfaction": "IVR surveys rated 4–5 / all surveys",
    "service_at_fault": "complaints with a standing (not reversed) fine on service staff / all complaints",
}


def _ratio(name: str, numerator: int, denominator: int) -> dict[str, Any]:
    op, target = TARGETS[name]
    value = None if denominator == 0 else round(numerator / denominator, 4)
    met = None if value is None else (value >= target if op == ">=" else value < target)
    return {"kpi": name, "value": value, "target": f"{op} {target:.0%}", "met": met, "numerator": numerator,
            "denominator": denominator, "definition": DEFINITIONS[name]}  # fmt: skip


def quarter_of(received_at: str) -> str:
    local = dt.datetime.fromisoformat(received_at).astimezone(CHINA)
    return f"{local.year}Q{(local.month - 1) // 3 + 1}"


def compute(views: Iterable[dict[str, Any]]) -> dict[str, Any]:
    complaints = arrivals_due = arrivals_on_time = surveys = satisfied = at_fault = 0
    by_quarter: Counter[tuple[str, str, str]] = Counter()
    for view in views:
        complaints += 1
        for deadline in view.get("deadlines", []):
            if deadline["rule"] != "DSP-ARRIVE" or not (deadline["met_at"] or deadline["breached"]):
                continue
            arrivals_due += 1
            arrivals_on_time += 0 if deadline["breached"] else 1
        for survey in view.get("surveys", []):
            surveys += 1
            satisfied += 1 if survey["satisfied"] else 0
        if any(f.get("status") != "reversed" for f in view.get("fines", [])):
            at_fault += 1
        model = (view.get("equipment") or {}).get("model") or "unknown"
        by_quarter[(quarter_of(view["received_at"]), model, view.get("cause") or "unclassified")] += 1
    return {
        "complaints": complaints,
        "kpis": [
            _ratio("service_on_time", arrivals_on_time, arrivals_due),
            _ratio("customer_satisfaction", satisfied, surveys),
            _ratio("service_at_fault", at_fault, complaints),
        ],
        "by_quarter": [
            {"quarter": q, "model": m, "cause": c, "complaints": n} for (q, m, c), n in sorted(by_quarter.items())
        ],
    }
