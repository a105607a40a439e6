"""The dashboard page (`/`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from services.reporting.console.layout import render

router = APIRouter()


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def dashboard_page(request: Request) -> HTMLResponse:
    return render(request, "dashboard.html", active="dashboard", title="仪表盘")
