"""The complaint page (`/console/complaints/{no}`): the complaint's summary and its history as a timeline
of plain Chinese sentences, each decision with its rule, seed section, policy version, inputs and replay
verdict. The history comes from the event stores (services/reporting/api_dossier.py `timeline_of`)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from services.reporting.api_dossier import timeline_of
from services.reporting.console.layout import render, templates
from services.reporting.dossier import render as dossier

router = APIRouter()
templates.env.filters.update(dossier.FILTERS)


@router.get("/console/complaints", include_in_schema=False)
async def find_complaint(no: str = Query(..., min_length=1, max_length=64)) -> RedirectResponse:
    """The header's search box without JavaScript: to the complaint's page."""
    return RedirectResponse(f"/console/complaints/{quote(no.strip(), safe='')}", status_code=303)


@router.get("/console/complaints/{complaint_no}", response_class=HTMLResponse, include_in_schema=False)
async def complaint_page(request: Request, complaint_no: str) -> HTMLResponse:
    timeline, view = await timeline_of(request, complaint_no)
    principal = getattr(request.state, "principal", None)
    summary = dossier.summary(view, dossier.role_of(principal))
    return render(request, "complaint.html", active="complaints", title=f"投诉 {complaint_no}",
                  t=timeline, v=summary, printable=False)  # fmt: skip
