"""The dossier (`/api/v1/complaints/{no}/dossier?format=html|pdf`): the complaint's timeline in plain
Chinese, printable, with the event chain hashes; `timeline_of` also feeds the console's complaint page
(services/reporting/console/complaint.py).

The full history with replay verdicts comes from the event stores, read-only, through `read` (the
composition root passes `aftersales.replay.read_dossier`); the reading runs in a worker thread and is
bounded by `timeout_s`. The summary comes from the read model. The current person is
`request.state.principal` when authentication has set it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, Protocol

import structlog
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from services.reporting.dossier import render
from services.reporting.privacy import current_reader
from services.reporting.timeline import StepLike, Timeline, build
from shared.security.personal import needs_clear

log = structlog.get_logger()


class DossierLike(Protocol):
    @property
    def complaint_no(self) -> str: ...
    @property
    def steps(self) -> Sequence[StepLike]: ...
    @property
    def hashes(self) -> Mapping[tuple[str, int], str]: ...


ReadDossier = Callable[[str], DossierLike]
HTML_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such complaint in any event store"},
    503: {"description": "the complaint history is not available on this server"},
    504: {"description": "reading the history took too long"},
}


async def timeline_of(request: Request, complaint_no: str) -> tuple[Timeline, dict[str, Any] | None]:
    """Read the history and the summary in a worker thread, at most `DOSSIER_SLOTS` at a time; a reading
    past the time limit answers 504 and keeps its slot until the thread is done (no pile-up)."""
    read: ReadDossier | None = getattr(request.app.state, "read_dossier", None)
    if read is None:
        raise HTTPException(status_code=503, detail="this API process was started without access to the event stores")
    timeout_s: float = request.app.state.dossier_timeout_s
    slots: asyncio.Semaphore = request.app.state.dossier_slots
    store = request.app.state.store

    def both() -> tuple[DossierLike, dict[str, Any] | None]:
        return read(complaint_no), store.complaint(complaint_no)

    try:
        async with asyncio.timeout(timeout_s):
            await slots.acquire()
            reading = asyncio.ensure_future(asyncio.to_thread(both))
            reading.add_done_callback(lambda _: slots.release())
            dossier, view = await asyncio.shield(reading)
    except TimeoutError:
        raise HTTPException(status_code=504, detail=f"the history of {complaint_no} took over {timeout_s} s") from None
    if not dossier.steps:
        raise HTTPException(status_code=404, detail=f"no complaint {complaint_no}")
    reader = current_reader(request)
    if view is not None and reader is not None and needs_clear(reader.role):
        log.info("personal_data_read", reader=reader.id, role=reader.role, route=request.url.path,
                 complaints=[complaint_no])  # fmt: skip
    return build(complaint_no, dossier.steps, dossier.hashes), view


def add_routes(api: FastAPI, read: ReadDossier | None, timeout_s: float = 20.0, slots: int = 2) -> None:
    api.state.read_dossier = read
    api.state.dossier_timeout_s = timeout_s
    api.state.dossier_slots = asyncio.Semaphore(slots)

    @api.get("/api/v1/complaints/{complaint_no}/dossier", tags=["complaints"], response_class=Response,
             responses={**HTML_RESPONSES, 200: {"content": {"text/html": {}, "application/pdf": {}}}})  # fmt: skip
    async def dossier(request: Request, complaint_no: str, format: Literal["html", "pdf"] = Query("html")) -> Response:
        """The printable dossier (HTML or PDF): the complaint page's content plus the event chain hashes."""
        timeline, view = await timeline_of(request, complaint_no)
        html = render.dossier_html(timeline, view, getattr(request.state, "principal", None))
        if format == "html":
            return HTMLResponse(html)
        try:
            pdf = await asyncio.to_thread(render.pdf_bytes, html)
        except render.PdfUnavailable as exc:
            raise HTTPException(status_code=503, detail=str(exc)) from None
        headers = {"Content-Disposition": f'inline; filename="{complaint_no}.pdf"'}
        return Response(pdf, media_type="application/pdf", headers=headers)
