"""GET /console/queue: the work queue page (zh-CN), server-rendered from GET /api/v1/queue's data.

Whose queue: the logged-in principal's (`request.state.principal`), else `?role=&person=`; ops, viewers
and anonymous readers get a role selector (anonymous without a role: everyone's, as ops see it).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from services.reporting.api_queue import READ_EVERYTHING, QueueRole, queue_of, whose
from services.reporting.console.layout import render
from services.reporting.queue import CHINA, ROLE_LABELS

router = APIRouter()


def when(iso: str, all_day: bool = False) -> str:
    """China time as people read it: `2026-11-27 16:00`, a due date as `2026-11-30（当天）`."""
    moment = dt.datetime.fromisoformat(iso).astimezone(CHINA)
    return f"{moment:%Y-%m-%d}（当天）" if all_day else f"{moment:%Y-%m-%d %H:%M}"


@router.get("/console/queue", response_class=HTMLResponse, include_in_schema=False)
async def queue_page(
    request: Request,
    role: Annotated[QueueRole | None, Query()] = None,
    person: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    principal = getattr(request.state, "principal", None)
    choose = principal is None or str(principal.role) in READ_EVERYTHING
    who_role, who_person = whose(request, role or ("ops" if principal is None else None), person)
    queue = await queue_of(request, who_role, who_person)
    return render(request, "queue.html", active="queue", title="工作队列", queue=queue, choose=choose,
                  roles=list(ROLE_LABELS.items()), roles_map=ROLE_LABELS, when=when)  # fmt: skip
