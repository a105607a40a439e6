"""Read routes and staff command routes of dispatch (added to the HTTP entry point).

- `POST /api/v1/complaints/{complaint_no}/dispatch/...`, `/fines/...`, `/escalations/...`: staff
  commands forwarded to the dispatch service over NATS request/reply;
- `POST /api/v1/engineers/{engineer_id}` and `/update`: the engineer roster (DSP-ASSIGN);
- `GET /api/v1/engineers` and `/api/v1/engineers/{engineer_id}`: the roster as projected (JSON, or CSV
  with `?format=csv` or `Accept: text/csv`);
- `GET /api/v1/fines`: the fines ledger (FIN-*, docs/rules.md §6) by person and by department, as JSON and
  as CSV, filtered and paged. Every fine is an entry, and so is every reversal (a negative
  amount pointing at the fine it reverses), so a reversed fine nets to zero and history stays.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from dataclasses import replace
from typing import Annotated, Any

import msgspec
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response

from services.reporting.auth_http import optional_actor
from services.reporting.edge import COMMAND_RESPONSES, MAX_INT64, READ_RESPONSES, forward_command, read_json_object
from services.reporting.money import yuan
from services.reporting.read_filter import ReadFilter
from services.reporting.reads import (
    CSV_RESPONSES,
    TOTAL_HEADER,
    TOTAL_RESPONSES,
    UNKNOWN_PARAMETER_RESPONSE,
    FormatQuery,
    china_times,
    place_filter,
    to_csv,
    wants_csv,
)
from shared.events import commands as cmd
from shared.events.subjects import Names

DISPATCH_ROUTES: dict[str, type[cmd.DispatchCommand]] = {
    "dispatch/fee-consent": cmd.RecordFeeConsent,
    "dispatch/approve": cmd.ApproveDispatch,
    "dispatch/assign": cmd.AssignEngineer,
    "dispatch/reassign": cmd.ReassignEngineer,
    "dispatch/arrival": cmd.RecordArrival,
    "dispatch/service-form": cmd.SubmitServiceForm,
    "dispatch/return-approval": cmd.ApproveReturn,
    "dispatch/return": cmd.RecordReturn,
    "dispatch/report": cmd.FileReport,
    "dispatch/audit/start": cmd.StartAudit,
    "dispatch/audit": cmd.RecordAudit,
    "service-fault": cmd.ConfirmServiceFault,
    "dispatch/follow-up": cmd.RecordFollowUp,
    "fines": cmd.LevyFine,
    "fines/dispute": cmd.DisputeFine,
    "fines/reverse": cmd.ReverseFine,
    "escalations/acknowledge": cmd.AcknowledgeEscalation,
}
ROSTER_ROUTES: dict[str, type[cmd.RosterCommand]] = {"": cmd.RegisterEngineer, "/update": cmd.UpdateEngineer}

LEDGER_COLUMNS = (
    "event", "fine_id", "complaint_no", "rule", "person", "role", "department", "amount_fen", "amount_yuan",
    "reason", "at", "status", "region", "model",
)  # fmt: skip
PERSON_COLUMNS = ("person", "role", "department", "fines", "reversals", "levied_fen", "reversed_fen", "net_fen",
                  "net_yuan")  # fmt: skip
ENGINEER_COLUMNS = ("engineer_id", "name", "region", "skills", "load", "available", "registered_at", "updated_at")
DEPARTMENT_COLUMNS = ("department", "fines", "reversals", "levied_fen", "reversed_fen", "net_fen", "net_yuan")
CSV_READS = {**READ_RESPONSES, **UNKNOWN_PARAMETER_RESPONSE, **CSV_RESPONSES}
FINE_RESPONSES = {**READ_RESPONSES, **UNKNOWN_PARAMETER_RESPONSE, **TOTAL_RESPONSES}


def in_period(at: str, since: dt.datetime | None, until: dt.datetime | None) -> bool:
    """Whether the ISO time `at` falls in [since, until) (either end open when None)."""
    moment = dt.datetime.fromisoformat(at)
    return (since is None or moment >= since) and (until is None or moment < until)


def ledger_entries(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each fine (`FineLevied`, positive) and each reversal (`FineReversed`, negative), in time order."""
    entries: list[dict[str, Any]] = []
    for row in rows:
        for fine in row["fines"] or []:
            entries.append({
                "event": "FineLevied", "fine_id": fine["fine_id"], "complaint_no": row["complaint_no"],
                "rule": fine["rule"], "person": fine["person"], "role": fine["role"],
                "department": fine["department"], "amount_fen": fine["amount_fen"],
                "amount_yuan": yuan(fine["amount_fen"]), "reason": fine["reason"], "at": fine["levied_at"],
                "status": fine["status"], "region": row.get("region"), "model": row.get("model"),
            })  # fmt: skip
        # A fine attributed after it was levied (docs/rules.md §9): its reversal nets that person's fine.
        charged = {fine["fine_id"]: fine for fine in row["fines"] or [] if fine["person"]}
        for reversal in row["reversals"] or []:
            whose = reversal if reversal["person"] else charged.get(reversal["fine_id"], reversal)
            entries.append({
                "event": "FineReversed", "fine_id": reversal["fine_id"], "complaint_no": row["complaint_no"],
                "rule": reversal["rule"], "person": whose["person"], "role": whose["role"],
                "department": whose["department"], "amount_fen": -reversal["amount_fen"],
                "amount_yuan": yuan(-reversal["amount_fen"]), "reason": reversal["reason"],
                "at": reversal["reversed_at"], "status": "reversed", "region": row.get("region"),
                "model": row.get("model"),
            })  # fmt: skip
    entries.sort(key=lambda e: (e["at"], e["complaint_no"], e["event"] == "FineReversed"))
    return entries


def _totals(entries: list[dict[str, Any]], key: tuple[str, ...]) -> list[dict[str, Any]]:
    groups: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(
        lambda: {"fines": 0, "reversals": 0, "levied_fen": 0, "reversed_fen": 0}
    )
    for entry in entries:
        group = groups[tuple(entry[k] for k in key)]
        if entry["event"] == "FineLevied":
            group["fines"] += 1
            group["levied_fen"] += entry["amount_fen"]
        else:
            group["reversals"] += 1
            group["reversed_fen"] -= entry["amount_fen"]
    totals = []
    for values, group in sorted(groups.items(), key=lambda item: tuple(str(v) for v in item[0])):
        net = group["levied_fen"] - group["reversed_fen"]
        totals.append({**dict(zip(key, values, strict=True)), **group, "net_fen": net, "net_yuan": yuan(net)})
    return totals


def ledger(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """`by_person` counts only fines charged to someone; a fine with no person yet (docs/rules.md §9)
    is listed apart in `unattributed` until the branch manager attributes it."""
    net = sum(e["amount_fen"] for e in entries)
    attributed = [e for e in entries if e["person"]]
    return {
        "entries": entries,
        "by_person": _totals(attributed, ("person", "role", "department")),
        "unattributed": [e for e in entries if not e["person"]],
        "by_department": _totals(entries, ("department",)),
        "net_fen": net,
        "net_yuan": yuan(net),
    }


def roster_body_schema(command: type[msgspec.Struct]) -> dict[str, Any]:
    _, components = msgspec.json.schema_components([command], ref_template="#/components/schemas/{name}")
    body = dict(components[command.__name__])
    body["properties"] = {k: v for k, v in body["properties"].items() if k not in ("command", "engineer_id")}
    body["required"] = [k for k in body.get("required", []) if k not in ("command", "engineer_id")]
    return optional_actor(body, components["Actor"])


def roster_route(api: FastAPI, names: Names, suffix: str, command: type[cmd.RosterCommand]) -> None:
    """POST /api/v1/engineers/{engineer_id}<suffix>: forward the roster command to dispatch."""
    tag = str(command.__struct_config__.tag)
    doc = (command.__doc__ or "").strip()

    async def run_command(request: Request, engineer_id: str) -> JSONResponse:
        body = await read_json_object(request)
        if isinstance(body, JSONResponse):
            return body
        message = {**body, "command": tag, "engineer_id": engineer_id}
        return await forward_command(request, names.commands("dispatch"), "dispatch", message)

    api.add_api_route(
        f"/api/v1/engineers/{{engineer_id}}{suffix}",
        run_command,
        methods=["POST"],
        tags=["staff commands"],
        summary=doc.splitlines()[0] if doc else tag,
        description=doc,
        name=f"dispatch_{tag}",
        openapi_extra={
            "requestBody": {"required": True, "content": {"application/json": {"schema": roster_body_schema(command)}}}
        },
        responses={
            403: {"description": "role not allowed"},
            409: {"description": "does not fit the roster"},
            422: {"description": "invalid"},
            **COMMAND_RESPONSES,
        },
    )


def add_routes(api: FastAPI, names: Names) -> None:
    """Add dispatch's routes (fines ledger, roster, dispatch commands)."""
    from services.reporting.api import command_route

    for path, command in DISPATCH_ROUTES.items():
        command_route(api, names, "dispatch", path, command)
    for suffix, roster_command in ROSTER_ROUTES.items():
        roster_route(api, names, suffix, roster_command)

    def engineer_csv(engineers: list[dict[str, Any]]) -> Response:
        return to_csv([{**e, "skills": " ".join(e["skills"])} for e in engineers], ENGINEER_COLUMNS)

    @api.get("/api/v1/engineers", tags=["reports"], response_model=None, responses=CSV_READS)
    async def engineers(
        request: Request,
        region: str | None = Query(None, description="only engineers of this region"),
        skill: str | None = Query(None, description="only engineers with this product skill (model)"),
        available: bool | None = Query(None, description="only (un)available engineers"),
        fmt: FormatQuery = None,
    ) -> Response:
        """The engineer roster (DSP-ASSIGN): region, product skills, current load and availability of
        each engineer, as the dispatch service recorded them."""
        wanted = None if skill is None else skill.strip().upper()
        rows = [
            e for e in await asyncio.to_thread(request.app.state.store.engineers)
            if (region is None or e["region"] == region) and (available is None or e["available"] == available)
            and (wanted is None or wanted in {s.strip().upper() for s in e["skills"]})
        ]  # fmt: skip
        return engineer_csv(rows) if wants_csv(request) else JSONResponse(china_times(rows))

    @api.get("/api/v1/engineers/{engineer_id}", tags=["reports"], response_model=None, responses=CSV_READS)
    async def engineer(request: Request, engineer_id: str, fmt: FormatQuery = None) -> Response:
        """One engineer of the roster (DSP-ASSIGN)."""
        row = await asyncio.to_thread(request.app.state.store.engineer, engineer_id)
        if row is None:
            raise HTTPException(status_code=404, detail=f"no engineer {engineer_id} on the roster")
        return engineer_csv([row]) if wants_csv(request) else JSONResponse(china_times(row))

    @api.get("/api/v1/fines", tags=["reports"], response_model=None, responses=FINE_RESPONSES)
    async def fines(
        request: Request,
        place: Annotated[ReadFilter, Depends(place_filter)],
        person: str | None = Query(None, description="only this person's fines (the one fined)"),
        department: str | None = Query(None, description="only this department's fines"),
        status: str | None = Query(
            None, min_length=1, description="only entries of this status (levied, disputed, reversed)"
        ),
        by: str = Query("entry", pattern="^(entry|person|department)$", description="CSV rows"),
        fmt: FormatQuery = None,
        limit: int = Query(100_000, ge=1, le=100_000, description="entries per page"),
        offset: int = Query(0, ge=0, le=MAX_INT64),
    ) -> Response | dict[str, Any]:
        """The fines ledger (罚款台账) by person and by department: every fine and every reversal
        (which points at its fine, with a negative amount) and the net per person and department.
        Filters: `from`/`to` (China dates, `to` exclusive) on when the fine was levied or reversed,
        region and model of the complaint, person, department, status. `total` (and `X-Total-Count`)
        counts the matching entries; `entries` is one page of them, the totals cover them all."""
        rows = await asyncio.to_thread(request.app.state.store.fine_rows, replace(place, since=None, until=None))
        entries = [
            e for e in ledger_entries(rows)
            if (person is None or e["person"] == person) and (department is None or e["department"] == department)
            and (status is None or e["status"] == status) and in_period(e["at"], place.since, place.until)
        ]  # fmt: skip
        result = ledger(entries)
        page = entries[offset : offset + limit]
        total = {TOTAL_HEADER: str(len(entries))}
        if not wants_csv(request):
            body = china_times({**result, "entries": page, "total": len(entries)})
            return JSONResponse(body, headers=total)
        if by == "person":
            return to_csv(result["by_person"], PERSON_COLUMNS)
        if by == "department":
            return to_csv(result["by_department"], DEPARTMENT_COLUMNS)
        return to_csv(page, LEDGER_COLUMNS, len(entries))
