"""GET /api/v1/queue: the work queue of a role (and person), computed by services/reporting/queue.py.

The logged-in person (`request.state.principal`, set by the HTTP layer once staff identity is in
place) decides whose queue it is; ops and viewers, who read everything, may ask for any role's.
Without a principal the query parameters say it. "Now" is the wall clock, or with the external clock
(`AFTERSALES_CLOCK=external`, tests and simulations) the time of the latest event in the read model.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from typing import Annotated, Any, Literal, get_args

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import Response

from services.reporting.edge import READ_RESPONSES
from services.reporting.privacy import current_reader, shown_to
from services.reporting.queue import CHINA, ROLE_LABELS, queue, summary
from services.reporting.reads import CSV_RESPONSES, UNKNOWN_PARAMETER_RESPONSE, FormatQuery, to_csv, wants_csv

QueueRole = Literal[
    "agent", "tq", "engineer", "warehouse_keeper", "old_parts_officer", "branch_manager", "deputy_gm", "gm",
    "finance", "ops",
]  # fmt: skip
READ_EVERYTHING = frozenset({"ops", "viewer"})
QUEUE_COLUMNS = (
    "due_at", "overdue", "title", "kind", "role", "person", "complaint_no", "part_id", "rule", "customer", "detail",
)  # fmt: skip
assert set(ROLE_LABELS) == set(get_args(QueueRole))


def whose(request: Request, role: str | None, person: str | None) -> tuple[str, str | None]:
    """(role, person) of the queue to show: the principal's own, else what the query asks."""
    principal = getattr(request.state, "principal", None)
    if principal is not None and str(principal.role) not in READ_EVERYTHING:
        return str(principal.role), str(principal.id)
    if role is None:
        if principal is not None:
            return "ops", None
        raise HTTPException(status_code=422, detail="role is required (one of: " + ", ".join(ROLE_LABELS) + ")")
    return role, person or None


def system_now(latest_event: dt.datetime | None) -> dt.datetime:
    if os.environ.get("AFTERSALES_CLOCK") == "external" and latest_event is not None:
        return latest_event.astimezone(CHINA)
    return dt.datetime.now(CHINA)


async def queue_of(request: Request, role: str, person: str | None) -> dict[str, Any]:
    """The queue's JSON; customers' names as the reader may see them (PII-VIEW: clear, masked or 已删除)."""
    views, latest = await asyncio.to_thread(request.app.state.store.views_for_queue)
    now = system_now(latest)
    body = summary(queue(views, role, person, now), role, person, now)
    nos = {item["complaint_no"] for item in body["items"]}
    body["items"] = await shown_to(current_reader(request), request.app.state.keys, body["items"], nos, "queue")
    return body


def add_routes(api: FastAPI) -> None:
    @api.get("/api/v1/queue", tags=["reports"], response_model=None,
             responses={**READ_RESPONSES, **UNKNOWN_PARAMETER_RESPONSE, **CSV_RESPONSES})  # fmt: skip
    async def work_queue(
        request: Request,
        role: Annotated[QueueRole | None, Query(description="whose work (docs/rules.md §7); ops: everyone's")] = None,
        person: Annotated[str | None, Query(max_length=200, description="a person's own and their role's")] = None,
        fmt: FormatQuery = None,
    ) -> Response | dict[str, Any]:
        """工作队列: what waits for a role (and person) and by when — relay, classification, reply,
        first response, fee consent, approvals, arrival, report, audit, old parts, disputes, escalations —
        sorted by due time (China time), undated last; `overdue` where the deadline was breached or has
        passed. With a logged-in principal it is their own queue (ops and viewers may pick a role).
        CSV (the items) with `?format=csv` or `Accept: text/csv`."""
        who_role, who_person = whose(request, role, person)
        body = await queue_of(request, who_role, who_person)
        return to_csv(body["items"], QUEUE_COLUMNS) if wants_csv(request) else body
