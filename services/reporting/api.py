"""The read API (CONTRACT §4): JSON by default, CSV with `Accept: text/csv` on the reports."""

from __future__ import annotations

import asyncio
import csv
import io
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from services.reporting.application import ReportingStore

REGISTER_COLUMNS = (
    "complaint_no", "call_id", "received_at", "kind", "status", "customer", "phone", "model", "serial",
    "region", "distance_km", "cause", "level", "in_warranty", "warranty_until", "record_incomplete",
)  # fmt: skip


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
    }


def wants_csv(request: Request) -> bool:
    return "text/csv" in request.headers.get("accept", "")


def to_csv(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> Response:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    # BOM so that spreadsheet programs show the Chinese text properly.
    return Response("\ufeff" + out.getvalue(), media_type="text/csv; charset=utf-8")


def metrics_payload() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest()


def create_api(store_factory: Callable[[], ReportingStore]) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store = store_factory()
        await asyncio.to_thread(store.open)
        app.state.store = store
        yield
        await asyncio.to_thread(store.close)

    api = FastAPI(
        title="After-sales read API",
        version="1.0.0",
        description="Registers and KPIs of the after-sales service (售后服务), CONTRACT §4.",
        lifespan=lifespan,
    )

    def store_of(request: Request) -> ReportingStore:
        store: ReportingStore = request.app.state.store
        return store

    @api.get("/api/v1/complaints", tags=["complaints"])
    async def complaints_for_call(request: Request, call_id: str = Query(..., min_length=1)) -> list[dict[str, Any]]:
        """The complaints for a telephony call (at most one)."""
        return await asyncio.to_thread(store_of(request).complaints_for_call, call_id)

    @api.get("/api/v1/complaints/{complaint_no}", tags=["complaints"])
    async def complaint(request: Request, complaint_no: str) -> dict[str, Any]:
        """One complaint: status, cause, level, warranty, deadlines, dispatch, parts, fines, escalations."""
        view = await asyncio.to_thread(store_of(request).complaint, complaint_no)
        if view is None:
            raise HTTPException(status_code=404, detail=f"no complaint {complaint_no}")
        return view

    @api.get("/api/v1/reports/tracking-register", tags=["reports"], response_model=None)
    async def tracking_register(
        request: Request, limit: int = Query(1000, ge=1, le=100_000), offset: int = Query(0, ge=0)
    ) -> Response | list[dict[str, Any]]:
        """客户投诉登记追踪表: every complaint with its classification, warranty and status."""
        views = await asyncio.to_thread(store_of(request).tracking_register, limit, offset)
        rows = [register_row(v) for v in views]
        return to_csv(rows, REGISTER_COLUMNS) if wants_csv(request) else rows

    @api.get("/healthz", tags=["operations"])
    async def healthz(request: Request) -> JSONResponse:
        try:
            positions = await asyncio.to_thread(store_of(request).positions)
        except Exception as exc:
            return JSONResponse({"status": "unhealthy", "error": repr(exc)}, status_code=503)
        return JSONResponse({"status": "ok", "positions": positions})

    @api.get("/metrics", tags=["operations"], response_class=Response)
    async def metrics() -> Response:
        return Response(metrics_payload(), media_type=CONTENT_TYPE_LATEST)

    return api
