"""Service KPIs (docs/rules.md §6, 004 售后服务管理制度 §3.2.1) from the complaint views. Pure.

- service on time ≥ 90 %: on-site arrivals (DSP-ARRIVE) met by their deadline, of those due;
- customer satisfaction ≥ 85 %: IVR surveys rated 4 or 5, of all surveys;
- complaints with service at fault < 3 % (用户抱怨率（确属服务责任的）): complaints whose standing
  DSP-SERVICE-FAULT finding by tq confirms the service itself at fault (late, rude, the same problem
  repaired again, a charge not approved), of all complaints in the period. Fines are not complaints and
  do not count (docs/rules.md §9).
Plus complaints per quarter by product model and cause (001 §9.3).

Verdicts are exact: numerator/denominator is compared with the target as fractions, never as a
rounded float (89,999 of 100,000 does not meet "≥ 90 %"). `value` is the same ratio as a number, for
display only; `exact` is the fraction itself.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")
TARGETS: dict[str, tuple[str, Fraction]] = {
    "service_on_time": (">=", Fraction(90, 100)),
    "customer_satisfaction": (">=", Fraction(85, 100)),
    "service_at_fault": ("<", Fraction(3, 100)),
}
DEFINITIONS = {
    "service_on_time": "on-site arrivals (DSP-ARRIVE) met by their deadline / arrivals due",
    "customer_satisfaction": "IVR surveys rated 4–5 / all surveys",
    "service_at_fault": "complaints tq confirmed as the service's own fault (DSP-SERVICE-FAULT) / all complaints",
}


def verdict(op: str, numerator: int, denominator: int, target: Fraction) -> bool | None:
    """Whether numerator/denominator meets `op target`, in exact arithmetic; None without data."""
    if denominator == 0:
        return None
    ratio = Fraction(numerator, denominator)
    return ratio >= target if op == ">=" else ratio < target


def _ratio(name: str, numerator: int, denominator: int) -> dict[str, Any]:
    op, target = TARGETS[name]
    exact = None if denominator == 0 else Fraction(numerator, denominator)
    return {"kpi": name, "value": None if exact is None else float(exact),
            "exact": None if exact is None else f"{numerator}/{denominator}", "target": f"{op} {target * 100}%",
            "met": verdict(op, numerator, denominator, target), "numerator": numerator, "denominator": denominator,
            "definition": DEFINITIONS[name]}  # fmt: skip


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
        if (view.get("service_fault") or {}).get("at_fault") is True:
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
