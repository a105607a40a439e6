"""What every read route of the API shares (docs/contract.md §4).

- CSV on request: `?format=csv` or `Accept: text/csv` (`format=json` wins over the header);
  `FormatQuery` declares the parameter so that the OpenAPI lists it, `CSV_RESPONSES` the CSV body.
- China time: `china_times` rewrites every ISO date-time in an answer to +08:00, whatever offset the
  read model holds it with (a call's own offset, or UTC from a service's clock). Dates stay dates.
- Unknown query parameters: `reject_unknown_query` (an app-wide dependency) answers 422 naming the
  parameter on every GET route under /api/, instead of ignoring a misspelt filter.
- `TOTAL_HEADER`: the number of rows a paged list has in all, for pagination.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from typing import Annotated, Any, Literal

from fastapi import Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute

from services.reporting.kpis import CHINA
from services.reporting.read_filter import ReadFilter

TOTAL_HEADER = "X-Total-Count"
ALWAYS_ALLOWED: set[str] = set()
"""Query parameters every route takes without declaring them (e.g. one read by a middleware)."""
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:?\d{2})")

FormatQuery = Annotated[
    Literal["json", "csv"] | None,
    Query(alias="format", description="`csv` for CSV (same as `Accept: text/csv`); `json` overrides the header"),
]
CSV_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSON, or CSV (UTF-8 with a BOM) with `?format=csv` or `Accept: text/csv`",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    }
}
TOTAL_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        **CSV_RESPONSES[200],
        "headers": {
            TOTAL_HEADER: {"description": "rows matching the filters, all pages", "schema": {"type": "integer"}}
        },
    }
}
UNKNOWN_PARAMETER_RESPONSE: dict[int | str, dict[str, Any]] = {
    422: {"description": "an invalid or unknown query parameter (the answer names it)"}
}


def wants_csv(request: Request) -> bool:
    chosen = request.query_params.get("format")
    if chosen is not None:
        return chosen == "csv"
    return "text/csv" in request.headers.get("accept", "")


def to_csv(rows: list[dict[str, Any]], columns: tuple[str, ...], total: int | None = None) -> Response:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(china_times(rows))
    headers = None if total is None else {TOTAL_HEADER: str(total)}
    # BOM so that spreadsheet programs show the Chinese text properly.
    return Response("\ufeff" + out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


def china_time(text: str) -> str:
    """An ISO date-time with an offset, in China time (+08:00); any other text unchanged."""
    if not _DATE_TIME.fullmatch(text):
        return text
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is None:
        return text
    return moment.astimezone(CHINA).isoformat()


def china_times(value: Any) -> Any:
    """`value` (JSON: dicts, lists, scalars) with every date-time string in China time. Pure."""
    if isinstance(value, str):
        return china_time(value)
    if isinstance(value, dict):
        return {k: china_times(v) for k, v in value.items()}
    if isinstance(value, list):
        return [china_times(v) for v in value]
    return value


def day_start(day: dt.date) -> dt.datetime:
    """00:00 China time of a (China) date."""
    return dt.datetime.combine(day, dt.time(), tzinfo=CHINA)


def allowed_query(dependant: Dependant) -> set[str]:
    """The query parameters a route (and its dependencies) take, by their names in the URL."""
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= allowed_query(sub)
    return names


async def reject_unknown_query(request: Request) -> None:
    """422 for a query parameter the GET route under /api/ does not take (named in the answer)."""
    route = request.scope.get("route")
    if request.method != "GET" or not request.url.path.startswith("/api/") or not isinstance(route, APIRoute):
        return
    allowed = allowed_query(route.dependant) | ALWAYS_ALLOWED
    unknown = sorted({name for name in request.query_params if name not in allowed})
    if unknown:
        takes = ", ".join(sorted(allowed)) or "none"
        raise RequestValidationError([
            {"type": "unknown_parameter", "loc": ("query", name), "input": request.query_params.get(name),
             "msg": f"unknown query parameter {name!r}; {request.url.path} takes: {takes}"}
            for name in unknown
        ])  # fmt: skip


Since = Annotated[dt.date | None, Query(alias="from", description="received on or after this China date")]
Until = Annotated[dt.date | None, Query(alias="to", description="received before this China date (exclusive)")]
Region = Annotated[str | None, Query(min_length=1, description="only this region (site.region, e.g. 四川)")]
Model = Annotated[str | None, Query(min_length=1, description="only this product model (equipment.model)")]


def place_filter(since: Since = None, until: Until = None, region: Region = None, model: Model = None) -> ReadFilter:
    """The date range (China dates, `to` exclusive), region and model filters of a report."""
    start = None if since is None else day_start(since)
    return ReadFilter(since=start, until=None if until is None else day_start(until), region=region, model=model)


def register_filter(
    since: Since = None,
    until: Until = None,
    region: Region = None,
    model: Model = None,
    status: Annotated[
        str | None, Query(min_length=1, description="only this status (registered, relayed, …, void)")
    ] = None,
    agent: Annotated[str | None, Query(min_length=1, description="only complaints this agent took (agent_id)")] = None,
) -> ReadFilter:
    """The register's filters: date range, region, model, status and the receiving agent."""
    place = place_filter(since, until, region, model)
    return ReadFilter(since=place.since, until=place.until, region=region, model=model, status=status, agent=agent)
