"""The dashboard: the page (`/`) and its data (`GET /api/v1/dashboard`)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from services.reporting.application import ReportingStore
from services.reporting.console import dashboard_data, dashboard_store
from services.reporting.console.layout import render
from services.reporting.edge import READ_RESPONSES
from services.reporting.kpis import CHINA

router = APIRouter()
EARLIEST, LATEST = dt.date(2000, 1, 1), dt.date(2100, 1, 1)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def dashboard_page(request: Request) -> HTMLResponse:
    return render(request, "dashboard.html", active="dashboard", title="仪表盘")


@router.get("/api/v1/dashboard", tags=["console"], responses=READ_RESPONSES)
async def dashboard(
    request: Request,
    since: Annotated[dt.date, Query(alias="from", description="received on or after (China date)")] = EARLIEST,
    until: Annotated[dt.date, Query(alias="to", description="received before (China date)")] = LATEST,
    region: Annotated[str | None, Query(min_length=1, description="only complaints of this region")] = None,
    model: Annotated[str | None, Query(min_length=1, description="only complaints about this product model")] = None,
    as_of: Annotated[
        dt.datetime | None, Query(description="the time deadlines and overdue parts are judged at (default: now)")
    ] = None,
) -> dict[str, Any]:
    """The dashboard's panels for the complaints the filters select: each KPI against its target with
    its definition and monthly trend, complaints per quarter by model and cause, deadlines breached or
    due within 4 hours by rule, fines net of reversals by person, department and month, open and
    unacknowledged escalations, overdue old parts and sales or scrap waiting for approval.
    Times +08:00, amounts in fen with a 元 string."""
    store: ReportingStore = request.app.state.store
    start = dt.datetime.combine(since, dt.time(), tzinfo=CHINA)
    end = dt.datetime.combine(until, dt.time(), tzinfo=CHINA)
    now = as_of if as_of is not None and as_of.tzinfo is not None else dt.datetime.now(CHINA)
    views, options = await asyncio.gather(
        asyncio.to_thread(dashboard_store.views, store, start, end, region, model),
        asyncio.to_thread(dashboard_store.filter_options, store),
    )
    filters = {"from": since.isoformat(), "to": until.isoformat(), "region": region, "model": model}
    return {"filters": filters, "options": options, **dashboard_data.dashboard(views, now)}
