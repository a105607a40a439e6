"""Read routes and staff command routes of parts (added to the HTTP entry point).

- `GET /api/v1/reports/old-parts`: the old-part return progress report (旧件返司进度汇报表), one row per
  part, JSON or CSV (`?format=csv` or `Accept: text/csv`); `GET /api/v1/parts/{part_id}`: one part.
- `POST /api/v1/complaints/{complaint_no}/parts`: record a replaced part by hand (PRT-RECORD);
  `POST /api/v1/parts/{part_id}/<act>`: the part's commands; `POST /api/v1/market-prices`.
  Each forwards the command to the parts service over NATS request/reply and answers with its reply.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response

from services.reporting.auth_http import optional_actor
from services.reporting.edge import COMMAND_RESPONSES, MAX_INT64, READ_RESPONSES, forward_command, read_json_object
from services.reporting.reads import (
    TOTAL_HEADER,
    TOTAL_RESPONSES,
    UNKNOWN_PARAMETER_RESPONSE,
    FormatQuery,
    china_times,
    to_csv,
    wants_csv,
)
from shared.events import commands as cmd
from shared.events.subjects import Names

OLD_PARTS_COLUMNS = (
    "region",
    "complaint_no",
    "part_id",
    "dispatch_order_no",
    "equipment_no",
    "material_code",
    "description",
    "quantity",
    "unit_price_fen",
    "total_fen",
    "responsible_engineer",
    "fault",
    "return_to_hq",
    "completed_on",
    "due_date",
    "hand_in_date",
    "delay_days",
    "delay_reason",
    "recovery_date",
    "ship_date",
    "returned_date",
    "status",
    "disposition",
    "record_missing",
)
"""PRT-RECORD columns, then due date, hand-in date, delay days, recovery date (回收日期), ship date (返司日期),
and the PRT-RECORD fields the record still lacks."""

# POST /api/v1/parts/{part_id}/<path> → command struct.
PART_ROUTES: dict[str, type[cmd.PartCommand]] = {
    "record": cmd.CompletePartRecord,
    "report-delay": cmd.ReportHandInDelay,
    "hand-in": cmd.HandInPart,
    "recover": cmd.RecoverPart,
    "ship": cmd.ShipPart,
    "receive-at-hq": cmd.ReceivePartAtHq,
    "disposition": cmd.DecideDisposition,
    "sale": cmd.ReportSale,
    "sale/verify": cmd.VerifySale,
    "sale/approve": cmd.ApproveSale,
    "sale/record": cmd.RecordSale,
    "disposal": cmd.RequestDisposal,
    "disposal/approve": cmd.ApproveDisposal,
    "disposal/record": cmd.RecordDisposal,
    "responsibility": cmd.StartResponsibilityReview,
    "responsibility/settle": cmd.SettleResponsibility,
    "claim/settle": cmd.SettleSupplierClaim,
}
# Route texts that say more exactly than the command's docstring what the parts service enforces.
DESCRIPTIONS: dict[str, str] = {
    "disposal/approve": (
        "Approve destruction or give-away at its PRT-SCRAP-APPROVAL level.\n"
        "The level is by original value, lots of one spec summed so they cannot be split: "
        "site (up to 20 000 yuan) branch_manager; department (up to 50 000) old_parts_officer; "
        "leadership (above 50 000) gm. A higher level may approve a lower one. "
        "Role: branch_manager, old_parts_officer or gm; anyone else, deputy_gm included, is refused (403)."
    ),
}
CSV_READS = {**READ_RESPONSES, **UNKNOWN_PARAMETER_RESPONSE, **TOTAL_RESPONSES}
RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "role not allowed"},
    404: {"description": "no such part"},
    409: {"description": "does not fit the part's state or a rule (the reason names the rule)"},
    422: {"description": "invalid"},
    **COMMAND_RESPONSES,
}


def old_parts_row(part: dict[str, Any]) -> dict[str, Any]:
    row = {column: part.get(column) for column in OLD_PARTS_COLUMNS}
    row["record_missing"] = list(row["record_missing"] or [])
    return row


def _csv_row(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "record_missing": " ".join(row["record_missing"])}


def _parts(request: Request, part_id: str | None, region: str | None, limit: int, offset: int) -> list[dict[str, Any]]:
    return _parts_page(request, part_id, region, limit, offset)[0]


def _parts_page(
    request: Request, part_id: str | None, region: str | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """One page of old parts (by completion date, part id) and how many match in all."""
    page: tuple[list[dict[str, Any]], int] = request.app.state.store.parts_page(part_id, region, limit, offset)
    return page


def _body_schema(command: type[msgspec.Struct], supplied: tuple[str, ...]) -> dict[str, Any]:
    _, components = msgspec.json.schema_components([command], ref_template="#/components/schemas/{name}")
    body = dict(components[command.__name__])
    hidden = ("command", *supplied)
    body["properties"] = {k: v for k, v in body["properties"].items() if k not in hidden}
    body["required"] = [k for k in body.get("required", []) if k not in hidden]
    optional_actor(body, components["Actor"])
    if "Quote" in components and "quotes" in body["properties"]:
        body["properties"]["quotes"] = {"type": "array", "items": components["Quote"]}
    return body


async def forward(request: Request, names: Names, message: dict[str, Any]) -> JSONResponse:
    """Send a command to the parts service and answer with its reply."""
    return await forward_command(request, names.commands("parts"), "parts", message)


def part_command_route(api: FastAPI, names: Names, path: str, command: type[cmd.PartCommand]) -> None:
    """POST /api/v1/parts/{part_id}/<path>: forward the command to the parts service over NATS."""
    tag = str(command.__struct_config__.tag)
    doc = DESCRIPTIONS.get(path, (command.__doc__ or "").strip())

    async def run_command(request: Request, part_id: str) -> JSONResponse:
        body = await read_json_object(request)
        if isinstance(body, JSONResponse):
            return body
        return await forward(request, names, {**body, "command": tag, "part_id": part_id})

    api.add_api_route(
        f"/api/v1/parts/{{part_id}}/{path}",
        run_command,
        methods=["POST"],
        tags=["staff commands"],
        summary=doc.splitlines()[0] if doc else tag,
        description=doc,
        name=f"parts_{tag}",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _body_schema(command, ("part_id",))}},
            }
        },
        responses=RESPONSES,
    )


def add_routes(api: FastAPI, names: Names) -> None:
    """Add parts' routes (old-parts report, parts commands)."""
    from services.reporting.api import command_route  # api.py imports this module

    @api.get("/api/v1/reports/old-parts", tags=["reports"], response_model=None, responses=CSV_READS)
    async def old_parts_report(
        request: Request,
        region: str | None = Query(None, min_length=1),
        limit: int = Query(1000, ge=1, le=100_000),
        offset: int = Query(0, ge=0, le=MAX_INT64),
        fmt: FormatQuery = None,
    ) -> Response:
        """旧件返司进度汇报表: one row per old part — PRT-RECORD columns plus due date, hand-in date,
        delay days, recovery date and ship date (docs/rules.md §6), and `record_missing`: the PRT-RECORD fields
        the record lacks (space-separated in CSV). `X-Total-Count`: how many parts match in all."""
        parts, total = await asyncio.to_thread(_parts_page, request, None, region, limit, offset)
        rows = [old_parts_row(p) for p in parts]
        if wants_csv(request):
            return to_csv([_csv_row(r) for r in rows], OLD_PARTS_COLUMNS, total)
        return JSONResponse(china_times(rows), headers={TOTAL_HEADER: str(total)})

    @api.get("/api/v1/parts/{part_id}", tags=["parts"], responses={**READ_RESPONSES, **UNKNOWN_PARAMETER_RESPONSE})
    async def old_part(request: Request, part_id: str) -> dict[str, Any]:
        """One old part: its record, hand-in progress, disposition, sale, disposal and responsibility."""
        found = await asyncio.to_thread(_parts, request, part_id, None, 1, 0)
        if not found:
            raise HTTPException(status_code=404, detail=f"no old part {part_id}")
        part: dict[str, Any] = china_times(found[0])
        return part

    command_route(api, names, "parts", "parts", cmd.RecordPart)

    async def record_market_price(request: Request) -> JSONResponse:
        body = await read_json_object(request)
        if isinstance(body, JSONResponse):
            return body
        return await forward(request, names, {**body, "command": "record_market_price"})

    api.add_api_route(
        "/api/v1/market-prices",
        record_market_price,
        methods=["POST"],
        tags=["staff commands"],
        summary="Record a region's scrap-metal market price of a day (PRT-PRICE-FLOOR).",
        description=(cmd.RecordMarketPrice.__doc__ or "").strip(),
        name="parts_record_market_price",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _body_schema(cmd.RecordMarketPrice, ())}},
            }
        },
        responses={403: RESPONSES[403], 422: RESPONSES[422], **COMMAND_RESPONSES},
    )
    for path, command in PART_ROUTES.items():
        part_command_route(api, names, path, command)
