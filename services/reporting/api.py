"""The read API (docs/contract.md §4): JSON by default, CSV with `Accept: text/csv` on the reports."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Annotated, Any

import msgspec
import nats
import nats.errors
import psycopg
import structlog
from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from nats.js import JetStreamContext
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from services.reporting import api_dispatch, api_dossier, api_parts, api_quality, api_queue
from services.reporting.application import ReportingStore
from services.reporting.auth_http import (
    AuthGuard,
    add_login_routes,
    declare_security,
    metrics_public,
    optional_actor,
)
from services.reporting.console import add_console, live
from services.reporting.edge import (
    COMMAND_RESPONSES,
    MAX_INT64,
    READ_RESPONSES,
    ApiLimits,
    EdgeGuard,
    forward_command,
    install_error_handlers,
    read_json_object,
)
from services.reporting.health import Check, Health, HealthLimits, default_checks, provisional_calendar_check
from services.reporting.kpis import compute as compute_kpis
from services.reporting.privacy import Reader, current_reader, shown_to
from services.reporting.read_filter import ReadFilter
from services.reporting.reads import (
    CSV_RESPONSES,
    TOTAL_HEADER,
    TOTAL_RESPONSES,
    UNKNOWN_PARAMETER_RESPONSE,
    FormatQuery,
    Model,
    Region,
    china_times,
    day_start,
    register_filter,
    reject_unknown_query,
    to_csv,
    wants_csv,
)
from shared.events import commands as cmd
from shared.events.subjects import Names
from shared.runtime.calendar_feed import CalendarFeed
from shared.security.authn import Authenticator
from shared.security.keystore import PostgresKeyStore
from shared.security.personal import install_key_reader
from shared.workcal import CalendarRegistry

REGISTER_COLUMNS = (
    "complaint_no", "call_id", "received_at", "kind", "status", "customer", "phone", "model", "serial",
    "region", "distance_km", "cause", "level", "in_warranty", "warranty_until", "record_incomplete", "void_reason",
)  # fmt: skip


Viewer = Annotated[Reader | None, Depends(current_reader)]
"""PII-VIEW (docs/rules.md §11): who reads, for personal data as they may see it (clear reads logged)."""


def register_row(view: dict[str, Any]) -> dict[str, Any]:
    return {
        "complaint_no": view["complaint_no"],
        "call_id": view["call_id"],
        "received_at": view["received_at"],
        "kind": view["kind"],
        "status": view["status"],
        "customer": view["customer"]["name"],
        "phone": view["customer"]["phone"],
        "model": view["equipment"]["model"],
        "serial": view["equipment"]["serial"],
        "region": view["site"]["region"],
        "distance_km": view["site"]["distance_km"],
        "cause": view["cause"],
        "level": view["level"],
        "in_warranty": view["warranty"]["in_warranty"],
        "warranty_until": view["warranty"]["until"],
        "record_incomplete": view["record_incomplete"],
        "void_reason": view.get("void_reason"),  # INT-REGISTER: set on a void number's row
    }


def metrics_payload() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest()


# Staff command routes: path under /api/v1/complaints/{complaint_no}/ → (service, command struct).
INTAKE_ROUTES: dict[str, type[cmd.IntakeCommand]] = {
    "relay": cmd.Relay,
    "complete": cmd.CompleteRecord,
    "classify": cmd.Classify,
    "answer": cmd.Answer,
    "solution": cmd.DecideSolution,
    "repairs": cmd.RecordRepair,
    "close": cmd.Close,
    "fines/record-incomplete": cmd.FineRecordIncomplete,
    "first-contact": cmd.RecordFirstContact,
    "fines/attribute": cmd.AttributeFine,
}
EARLIEST, LATEST = dt.date(2000, 1, 1), dt.date(2100, 1, 1)
KPI_COLUMNS = ("kpi", "value", "target", "met", "numerator", "denominator", "definition", "quarter", "model",
               "cause", "complaints", "section")  # fmt: skip
"""One CSV, two tables: the KPI rows (`section` kpi; the columns as before, first), then complaints per
quarter by model and cause (`section` by_quarter); each row fills its own table's columns."""
READS = {**READ_RESPONSES, **UNKNOWN_PARAMETER_RESPONSE}


def kpi_csv_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"section": "kpi", **row} for row in result["kpis"]] + [
        {"section": "by_quarter", **row} for row in result["by_quarter"]
    ]


def command_body_schema(command: type[msgspec.Struct]) -> dict[str, Any]:
    """The request body of a command route: the command struct minus what the path supplies."""
    _, components = msgspec.json.schema_components([command], ref_template="#/components/schemas/{name}")
    body = dict(components[command.__name__])
    body["properties"] = {k: v for k, v in body["properties"].items() if k not in ("command", "complaint_no")}
    body["required"] = [k for k in body.get("required", []) if k not in ("command", "complaint_no")]
    return optional_actor(body, components["Actor"])


CALENDAR_RETRY_S = 5.0
log = structlog.get_logger()


async def follow_calendars(
    js: JetStreamContext, names: Names, health: Health, today: Callable[[], dt.date] | None
) -> None:
    """Follow the published working calendars (for the provisional-calendar health reason, judged on
    `today`, by default the date in China); retried while intake's stream does not exist yet."""
    calendars = CalendarRegistry()
    feed = CalendarFeed("api", names, calendars, calendars.publish, today)
    while True:
        try:
            watch = await feed.start(js)
        except (nats.errors.Error, TimeoutError) as exc:
            log.info("calendar_feed_retry", error=repr(exc))
            await asyncio.sleep(CALENDAR_RETRY_S)
            continue
        health.add(provisional_calendar_check(feed))
        await watch
        return


def create_api(
    store_factory: Callable[[], ReportingStore],
    nats_url: str | None = None,
    names: Names | None = None,
    *,
    nats_options: Mapping[str, str] | None = None,
    limits: ApiLimits | None = None,
    health_limits: HealthLimits | None = None,
    checks: Sequence[Check] = (),
    calendar_today: Callable[[], dt.date] | None = None,
    keys_factory: Callable[[ReportingStore], PostgresKeyStore] | None = None,
    authenticator: Authenticator | None = None,
    read_dossier: api_dossier.ReadDossier | None = None,
) -> FastAPI:
    """The read API and the staff command routes. `limits` and `health_limits` default to the
    environment (`AFTERSALES_HTTP_*`, `AFTERSALES_HEALTH_*`); `checks` are added to the default
    health checks (see services/reporting/health.py), as is anything added later with
    `api.state.health.add(check)`. `keys_factory` gives the customers' keys (PII-VIEW); by default
    the key table beside the read model. Every route but the public ones needs a credential
    (services/reporting/auth_http.py): `authenticator` defaults to the API tokens in the database of
    the store (schema `auth`) and OIDC as the environment configures it. `read_dossier` reads a complaint's
    replayed history from the event stores (the complaint page and the dossier; without it they answer 503)."""
    names = names or Names()
    limits = limits or ApiLimits.from_env()
    health_limits = health_limits or HealthLimits.from_env()
    health = Health(checks, timeout_s=health_limits.check_timeout_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = store_factory()
        await asyncio.to_thread(store.open)
        app.state.store = store
        keys = (keys_factory or _key_table(names))(store)
        await asyncio.to_thread(keys.open)
        app.state.keys = keys
        install_key_reader(keys)  # `personal_view` in this process (console pages, dossiers)
        own_authenticator = authenticator is None
        app.state.authenticator = authenticator or await asyncio.to_thread(
            lambda: Authenticator.from_env(store.database_url, names.db_schema("auth")).open()
        )
        options = nats_options or {}
        app.state.nats = await nats.connect(nats_url, max_reconnect_attempts=-1, **options) if nats_url else None
        js = app.state.nats.jetstream(timeout=health_limits.check_timeout_s) if app.state.nats else None
        for check in reversed(default_checks(js, names, store, health_limits)):
            health.checks.insert(0, check)
        if js is not None:
            following = follow_calendars(js, names, health, calendar_today)
            app.state.calendar = asyncio.create_task(following, name="api-calendar")
        await health.reasons()  # the baseline of the dead-letter window
        await live.start(app, store.database_url, store.schema)
        yield
        await live.stop(app)
        if js is not None:
            app.state.calendar.cancel()
        if app.state.nats is not None:
            with contextlib.suppress(Exception):
                await app.state.nats.drain()
        install_key_reader(None)
        await asyncio.to_thread(keys.close)
        if own_authenticator:
            await asyncio.to_thread(app.state.authenticator.close)
        await asyncio.to_thread(store.close)

    api = FastAPI(
        title="After-sales read API",
        version="1.0.0",
        description="Registers and KPIs of the after-sales service (售后服务), docs/contract.md §4.",
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc are served by the console, with self-hosted assets
        redoc_url=None,
        dependencies=[Depends(reject_unknown_query)],
    )
    api.state.limits = limits
    api.state.health = health
    metrics_open = metrics_public()
    api.add_middleware(AuthGuard, authenticator=lambda: api.state.authenticator, metrics_open=metrics_open)
    api.add_middleware(EdgeGuard, max_body_bytes=limits.max_body_bytes)  # outermost: answers whatever fails inside
    install_error_handlers(api)
    add_login_routes(api, lambda: api.state.authenticator)
    declare_security(api, metrics_open)

    def store_of(request: Request) -> ReportingStore:
        store: ReportingStore = request.app.state.store
        return store

    @api.get("/api/v1/complaints", tags=["complaints"], response_model=None, responses={**READS, **TOTAL_RESPONSES})
    async def complaints(
        request: Request,
        reader: Viewer,
        where: Annotated[ReadFilter, Depends(register_filter)],
        fmt: FormatQuery = None,
        call_id: str | None = Query(None, min_length=1, description="only the complaint of this telephony call"),
        limit: int = Query(100, ge=1, le=10_000),
        offset: int = Query(0, ge=0, le=MAX_INT64),
    ) -> Response:
        """Complaints (whole views) in register order, filtered; `X-Total-Count` is how many match in all.
        With `call_id`: the complaints of that call (at most one). CSV: the register columns. Customer
        name, phone and address are masked except for the roles that need them (PII-VIEW), `已删除`
        once erased."""
        where = replace(where, call_id=call_id)
        stored, total = await asyncio.to_thread(store_of(request).register_page, where, limit, offset)
        nos = [v["complaint_no"] for v in stored]
        views: list[dict[str, Any]] = await shown_to(reader, request.app.state.keys, stored, nos, "complaints")
        if wants_csv(request):
            return to_csv([register_row(v) for v in views], REGISTER_COLUMNS, total)
        return JSONResponse(china_times(views), headers={TOTAL_HEADER: str(total)})

    @api.get("/api/v1/complaints/{complaint_no}", tags=["complaints"], responses=READS)
    async def complaint(request: Request, complaint_no: str, reader: Viewer) -> dict[str, Any]:
        """One complaint: status, cause, level, warranty, deadlines, dispatch, parts, fines, escalations.
        Customer name, phone and address as in `GET /api/v1/complaints` (PII-VIEW)."""
        view = await asyncio.to_thread(store_of(request).complaint, complaint_no)
        if view is None:
            raise HTTPException(status_code=404, detail=f"no complaint {complaint_no}")
        revealed = await shown_to(reader, request.app.state.keys, view, [complaint_no], "complaint")
        shown: dict[str, Any] = china_times(revealed)
        return shown

    @api.get(
        "/api/v1/reports/tracking-register", tags=["reports"], response_model=None,
        responses={**READS, **TOTAL_RESPONSES},
    )  # fmt: skip
    async def tracking_register(
        request: Request,
        reader: Viewer,
        where: Annotated[ReadFilter, Depends(register_filter)],
        fmt: FormatQuery = None,
        limit: int = Query(1000, ge=1, le=100_000),
        offset: int = Query(0, ge=0, le=MAX_INT64),
    ) -> Response:
        """客户投诉登记追踪表: every complaint with its classification, warranty and status, filtered;
        `X-Total-Count` is how many rows match in all. Customer and phone as in `GET /api/v1/complaints`
        (PII-VIEW)."""
        views, total = await asyncio.to_thread(store_of(request).register_page, where, limit, offset)
        plain = [register_row(v) for v in views]
        nos = [r["complaint_no"] for r in plain]
        rows: list[dict[str, Any]] = await shown_to(reader, request.app.state.keys, plain, nos, "tracking-register")
        if wants_csv(request):
            return to_csv(rows, REGISTER_COLUMNS, total)
        return JSONResponse(china_times(rows), headers={TOTAL_HEADER: str(total)})

    @api.get("/api/v1/reports/kpis", tags=["reports"], response_model=None, responses={**READS, **CSV_RESPONSES})
    async def kpis(
        request: Request,
        since: Annotated[dt.date, Query(alias="from", description="received on or after (China date)")] = EARLIEST,
        until: Annotated[dt.date, Query(alias="to", description="received before (China date)")] = LATEST,
        region: Region = None,
        model: Model = None,
        fmt: FormatQuery = None,
    ) -> Response | dict[str, Any]:
        """Service KPIs (service on time ≥ 90 %, satisfaction ≥ 85 %, service at fault < 3 %) and
        complaints per quarter by model and cause. The CSV holds both tables (column `section`)."""
        where = ReadFilter(region=region, model=model)
        views = await asyncio.to_thread(store_of(request).views_for_kpis, day_start(since), day_start(until), where)
        result = compute_kpis(views)
        if wants_csv(request):
            return to_csv(kpi_csv_rows(result), KPI_COLUMNS)
        return {"from": since.isoformat(), "to": until.isoformat(), **result}

    for path, command in INTAKE_ROUTES.items():
        command_route(api, names, "intake", path, command)
    api_dispatch.add_routes(api, names)
    api_parts.add_routes(api, names)
    api_queue.add_routes(api)
    add_console(api)
    api_quality.add_routes(api)
    api_dossier.add_routes(api, read_dossier)

    @api.get(
        "/healthz",
        tags=["operations"],
        responses={503: {"description": "unhealthy: PostgreSQL is not reachable (Retry-After)"}},
    )
    async def healthz(request: Request) -> JSONResponse:
        """`ok` (200): serving, and no check has a reason. `degraded` (200): still serving reads and
        commands, but `reasons` says what an operator should look at (consumer or relay lag over the
        threshold, dead letters growing, parked timers, or any added check); 200 so that a load
        balancer keeps a degraded API in rotation. `unhealthy` (503): PostgreSQL is not reachable."""
        positions_task = asyncio.ensure_future(asyncio.to_thread(store_of(request).positions))
        reasons = await health.reasons()
        try:
            positions = await positions_task
        except psycopg.Error as exc:
            reason = f"the database (PostgreSQL) is not reachable: {type(exc).__name__}"
            body = {"status": "unhealthy", "error": repr(exc), "reasons": [reason, *reasons]}
            return JSONResponse(body, status_code=503, headers={"Retry-After": str(limits.retry_after_s)})
        return JSONResponse({"status": "degraded" if reasons else "ok", "positions": positions, "reasons": reasons})

    @api.get("/metrics", tags=["operations"], response_class=Response)
    async def metrics() -> Response:
        """Prometheus metrics, the health gauges refreshed first (`aftersales_health_*`, lags, parked timers)."""
        await health.reasons()
        return Response(metrics_payload(), media_type=CONTENT_TYPE_LATEST)

    return api


def _key_table(names: Names) -> Callable[[ReportingStore], PostgresKeyStore]:
    def build(store: ReportingStore) -> PostgresKeyStore:
        return PostgresKeyStore(store.database_url, names.db_schema("pii"))

    return build


def command_route(api: FastAPI, names: Names, service: str, path: str, command: type[msgspec.Struct]) -> None:
    """POST /api/v1/complaints/{complaint_no}/<path>: forward the command to `service` over NATS."""
    tag = str(command.__struct_config__.tag)
    doc = (command.__doc__ or "").strip()

    async def run_command(request: Request, complaint_no: str) -> JSONResponse:
        body = await read_json_object(request)
        if isinstance(body, JSONResponse):
            return body
        message = {**body, "command": tag, "complaint_no": complaint_no}
        return await forward_command(request, names.commands(service), service, message)

    api.add_api_route(
        f"/api/v1/complaints/{{complaint_no}}/{path}",
        run_command,
        methods=["POST"],
        tags=["staff commands"],
        summary=doc.splitlines()[0] if doc else tag,
        description=doc,
        name=f"{service}_{tag}",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": command_body_schema(command)}},
            }
        },
        responses={
            403: {"description": "role not allowed"},
            404: {"description": "no such complaint"},
            409: {"description": "does not fit the complaint's state"},
            422: {"description": "invalid"},
            **COMMAND_RESPONSES,
        },
    )
