"""The web console (zh-CN), served by the api process: pages, their own static files, the vendored
browser libraries (ECharts, Swagger UI, ReDoc — installed with npm from `web/package-lock.json`, never
from a CDN) and the offline API docs at `/docs` and `/redoc`.

How a page registers (the work queue, the complaint page, …):

1. Its own router module here, e.g. `services/reporting/console/queue.py`::

       from fastapi import APIRouter, Request
       from fastapi.responses import HTMLResponse
       from services.reporting.console.layout import render

       router = APIRouter()

       @router.get("/console/queue", response_class=HTMLResponse, include_in_schema=False)
       async def queue_page(request: Request) -> HTMLResponse:
           return render(request, "queue.html", active="queue", title="工作队列", rows=...)

2. Its template in `templates/`, extending the base layout::

       {% extends "base.html" %}
       {% block content %} … {% endblock %}
       {% block scripts %}<script src="{{ static('queue.js') }}"></script>{% endblock %}

   Blocks: `title`, `head` (extra styles), `content`, `scripts`. `active` is the key of the
   navigation entry to highlight (`NAV` in layout.py: dashboard, queue, complaints, docs, redoc).
   `static(name)` is the URL of a file in `static/`, `vendor(name)` of a vendored library
   (`VENDOR` in assets.py, e.g. `vendor('echarts.min.js')`); `principal` is
   `getattr(request.state, "principal", None)` (set by authentication once it is in place).
3. Its router added to `ROUTERS` in pages.py. JSON the page fetches goes under `/api/v1/`.

Live updates: `GET /api/v1/events/stream` (live.py) sends a server-sent event `change` after every
commit of the reporting projection (PostgreSQL NOTIFY); `static/live.js` has
`onProjectionChange(callback)`, debounced, for any page that wants to re-fetch.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.reporting.console import assets, live, pages


def add_console(api: FastAPI) -> None:
    """Mount the console's pages, assets, offline API docs and live-update stream on the api app."""
    assets.add_routes(api)
    live.add_routes(api)
    for router in pages.ROUTERS:
        api.include_router(router)
