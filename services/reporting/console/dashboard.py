"""The dashboard: the page (`/`) and its data (`GET /api/v1/dashboard`)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from services.reporting.application import ReportingStore
from services.reporting.console import dashboard_data
from services.reporting.console.layout import render
from services.reporting.edge import READ_RESPONSES
from services.reporting.kpis import CHINA

router = APIRouter()
EARLIEST, LATEST = dt.date(2000, 1, 1), dt.date(2100, 1, 1)
FRESH_S = 10.0
"""How long an answer judged at "now" is reused while the read model has not moved (many open pages
re-fetch on the same change: one computation serves them all)."""
CACHED = 32


class AnswerCache:
    """Recent answers by filters, each valid while the read model's positions are unchanged (and, for
    "now", for FRESH_S)."""

    def __init__(self) -> None:
        self.answers: dict[tuple[Any, ...], tuple[float, dict[str, int], dict[str, Any]]] = {}

    def get(self, key: tuple[Any, ...], positions: dict[str, int], judged_now: bool) -> dict[str, Any] | None:
        entry = self.answers.get(key)
        if entry is None or entry[1] != positions or (judged_now and time.monotonic() > entry[0]):
            return None
        return entry[2]

    def put(self, key: tuple[Any, ...], positions: dict[str, int], answer: dict[str, Any]) -> None:
        if len(self.answers) >= CACHED:
            self.answers.pop(next(iter(self.answers)))
        self.answers[key] = (time.monotonic() + FRESH_S, positions, answer)


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
    if as_of is not None and as_of.tzinfo is None:
        raise HTTPException(status_code=422, detail="as_of needs a UTC offset, e.g. 2026-11-24T09:00:00+08:00")
    store: ReportingStore = request.app.state.store
    cache: AnswerCache = getattr(request.app.state, "dashboard_cache", None) or AnswerCache()
    request.app.state.dashboard_cache = cache
    key = (since, until, region, model, as_of)
    positions = await asyncio.to_thread(store.positions)
    cached = cache.get(key, positions, judged_now=as_of is None)
    if cached is not None:
        return cached
    start = dt.datetime.combine(since, dt.time(), tzinfo=CHINA)
    end = dt.datetime.combine(until, dt.time(), tzinfo=CHINA)
    views, options = await asyncio.gather(
        asyncio.to_thread(store.views_for_dashboard, start, end, region, model),
        asyncio.to_thread(store.filter_options),
    )
    filters = {"from": since.isoformat(), "to": until.isoformat(), "region": region, "model": model}
    now = as_of or dt.datetime.now(CHINA)
    answer = {"filters": filters, "options": options, **dashboard_data.dashboard(views, now)}
    cache.put(key, positions, answer)
    return answer
