"""The base layout: Jinja2 templates, the navigation, and `render` for every console page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from services.reporting.console.assets import STATIC_PREFIX, vendor_url, with_csp
from services.reporting.console.labels import LABELS, label

HERE = Path(__file__).parent
# The dossier's partials (summary, timeline) are shared by the complaint page.
templates = Jinja2Templates(directory=[HERE / "templates", HERE.parent / "dossier" / "templates"])
templates.env.globals["static"] = lambda name: f"{STATIC_PREFIX}/{name}"
templates.env.globals["vendor"] = vendor_url
templates.env.globals["labels"] = LABELS
templates.env.globals["label"] = label

# (key, label, href): the navigation of every page, in order. The complaint page (投诉) is reached by
# number from the search box of the header (`/console/complaints/{no}`), or from a link on another page.
NAV: tuple[tuple[str, str, str], ...] = (
    ("dashboard", "仪表盘", "/"),
    ("queue", "工作队列", "/console/queue"),
    ("docs", "API 文档", "/docs"),
    ("redoc", "ReDoc", "/redoc"),
)
templates.env.globals["nav"] = NAV


def render(
    request: Request, template: str, *, active: str, title: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """One console page: `template` (extending base.html) with the navigation, `active` highlighted."""
    context.update(active=active, title=title, principal=getattr(request.state, "principal", None))
    return with_csp(templates.TemplateResponse(request, template, context, status_code=status_code))
