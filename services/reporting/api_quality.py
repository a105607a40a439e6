"""The quality reports (docs/rules.md §6; QLT-INCIDENT-CLASS, QLT-EXTERNAL-COST, QLT-STATS), JSON or CSV.

Each takes `from`/`to` (China dates of receipt, `to` exclusive), `region` and `model`; the figures come
from services/reporting/quality.py, the rows from the read model (services/reporting/application.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response

from services.reporting import quality
from services.reporting.edge import READ_RESPONSES
from services.reporting.read_filter import ReadFilter
from services.reporting.reads import (
    CSV_RESPONSES,
    UNKNOWN_PARAMETER_RESPONSE,
    FormatQuery,
    china_times,
    place_filter,
    to_csv,
    wants_csv,
)

RESPONSES = {**READ_RESPONSES, **UNKNOWN_PARAMETER_RESPONSE, **CSV_RESPONSES}
INCIDENT_COLUMNS = (
    "class", "model", "production_date", "production_date_basis", "returns", "complaints", "loss_fen", "loss_yuan",
    "reasons", "first_received_at", "last_received_at", "complaint_nos",
)  # fmt: skip
COST_COLUMNS = (
    "quarter", "complaints", "service_fen", "parts_fen", "gross_fen", "collected_fen", "recovered_fen", "net_fen",
    "service_yuan", "parts_yuan", "gross_yuan", "collected_yuan", "recovered_yuan", "net_yuan",
)  # fmt: skip
STATS_COLUMNS = (
    "quarter", "model", "cause", "complaints", "faults", "consultations", "returns", "repairs", "service_at_fault",
    "net_cost_fen", "net_cost_yuan",
)  # fmt: skip


def _incident_csv(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {**i, "reasons": "; ".join(i["reasons"]), "complaint_nos": " ".join(i["complaint_nos"])}
        for i in result["incidents"]
    ]


REPORTS: dict[str, tuple[str, Callable[[list[dict[str, Any]]], dict[str, Any]], Any, tuple[str, ...]]] = {
    "quality-incidents": (
        "质量事故分类 (QLT-INCIDENT-CLASS): returns grouped by model and production date (the acceptance date "
        "stands in), each group major (≥ 500 returns or a loss ≥ 20 000 元), batch (≥ 50 returns) or general.",
        quality.quality_incidents, _incident_csv, INCIDENT_COLUMNS,
    ),
    "external-failure-cost": (
        "外部故障成本 per quarter (QLT-EXTERNAL-COST): service cost and parts, less payments collected and "
        "recoveries; CSV: one row per quarter and a `total` row.",
        quality.external_failure_cost, lambda r: [*r["quarters"], r["total"]], COST_COLUMNS,
    ),
    "quality-stats": (
        "售后质量问题统计 per quarter by product model and cause (QLT-STATS): complaints, faults, returns, repairs, "
        "complaints at the service's fault and the net external failure cost; totals by quarter, model and cause.",
        quality.quality_stats, lambda r: r["rows"], STATS_COLUMNS,
    ),
}  # fmt: skip


def add_routes(api: FastAPI) -> None:
    for path, (doc, compute, csv_rows, columns) in REPORTS.items():
        _report_route(api, path, doc, compute, csv_rows, columns)


def _report_route(
    api: FastAPI,
    path: str,
    doc: str,
    compute: Callable[[list[dict[str, Any]]], dict[str, Any]],
    csv_rows: Callable[[dict[str, Any]], list[dict[str, Any]]],
    columns: tuple[str, ...],
) -> None:
    async def report(
        request: Request, where: Annotated[ReadFilter, Depends(place_filter)], fmt: FormatQuery = None
    ) -> Response | dict[str, Any]:
        views = await asyncio.to_thread(request.app.state.store.views_for_quality, where)
        result = compute(views)
        if wants_csv(request):
            return to_csv(csv_rows(result), columns)
        since, until = where.since, where.until
        shown: dict[str, Any] = china_times({"from": None if since is None else since.date().isoformat(),
                                             "to": None if until is None else until.date().isoformat(),
                                             "region": where.region, "model": where.model, **result})  # fmt: skip
        return shown

    api.add_api_route(
        f"/api/v1/reports/{path}",
        report,
        methods=["GET"],
        tags=["reports"],
        summary=doc.split(":")[0],
        description=doc,
        name=path.replace("-", "_"),
        response_model=None,
        responses=RESPONSES,
    )
