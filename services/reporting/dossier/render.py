"""Renders a complaint's timeline: the complaint page, the printable dossier (HTML) and its PDF.

The PDF is the dossier HTML laid out by WeasyPrint, which embeds (a subset of) the CJK font that
fontconfig finds for Chinese (`fonts-noto-cjk`); without pango or such a font it fails with a clear
message (`PdfUnavailable`) rather than printing empty boxes.
"""

from __future__ import annotations

import functools
import importlib
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2

from services.reporting.timeline import Timeline
from services.reporting.timeline_words import CAUSES, KINDS, PAYERS, china_time, money, word
from shared.security.personal import personal_view

TEMPLATES = Path(__file__).with_name("templates")
KNOWN_CJK_FONTS = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/truetype/arphic/uming.ttc"),
)
STATUSES = {
    "registered": "已登记", "relayed": "已转交技质部", "classified": "已分类", "answered": "已答复",
    "solution_decided": "已确定解决方案", "closed": "已关闭", "void": "编号作废",
}  # fmt: skip


class PdfUnavailable(RuntimeError):
    """The PDF cannot be made on this machine (missing pango or CJK font); the message says what to install."""


FILTERS: dict[str, Callable[[Any], str]] = {
    "china_time": china_time, "money": money, "kind": lambda v: word(KINDS, v), "cause": lambda v: word(CAUSES, v),
    "payer": lambda v: word(PAYERS, v), "status": lambda v: word(STATUSES, v),
}  # fmt: skip


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
    )
    env.filters.update(FILTERS)
    return env


def summary(view: dict[str, Any] | None, role: str | None) -> dict[str, Any] | None:
    """The complaint's summary lines from the read model, personal data through `personal_view`
    (PII-VIEW: clear for a role that needs it, masked for others and for no one, `已删除` once erased)."""
    if view is None:
        return None
    customer = view.get("customer") or {}
    site = view.get("site") or {}
    return {
        **view,
        "customer_name": personal_view(customer.get("name"), "name", role) or "—",
        "customer_phone": personal_view(customer.get("phone"), "phone", role) or "—",
        "site_address": personal_view(site.get("address"), "address", role),
    }


def role_of(principal: Any) -> str | None:
    role = getattr(principal, "role", None)
    return None if role is None else str(role)


def dossier_html(timeline: Timeline, view: dict[str, Any] | None, principal: Any = None) -> str:
    """The printable dossier: the page's content plus the event hashes as evidence."""
    template = environment().get_template("dossier.html")
    return template.render(t=timeline, v=summary(view, role_of(principal)), principal=principal, printable=True)


@functools.cache
def cjk_font_family() -> str:
    """The family fontconfig offers for Chinese, e.g. `Noto Sans CJK SC`."""
    fc_list = shutil.which("fc-list")
    if fc_list is not None:
        listed = subprocess.run([fc_list, ":lang=zh-cn", "family"], capture_output=True, text=True, timeout=10)
        families = sorted({line.split(",")[0].strip() for line in listed.stdout.splitlines() if line.strip()})
        preferred = [f for f in families if "Sans CJK SC" in f] or [f for f in families if "CJK" in f] or families
        if preferred:
            return preferred[0]
    if any(path.exists() for path in KNOWN_CJK_FONTS):
        return "Noto Sans CJK SC"
    raise PdfUnavailable(
        "no font with Chinese glyphs found (fc-list :lang=zh-cn is empty): install fonts-noto-cjk"
        " (apt-get install fonts-noto-cjk; ./dev's setup does it)"
    )


def pdf_bytes(html: str) -> bytes:
    """The dossier HTML as PDF with an embedded CJK font."""
    family = cjk_font_family()
    try:
        weasyprint = importlib.import_module("weasyprint")
    except OSError as exc:  # pango/harfbuzz missing: WeasyPrint cannot load them
        needs = "WeasyPrint needs the system library pango (apt-get install libpango-1.0-0 libpangoft2-1.0-0)"
        raise PdfUnavailable(f"{needs}: {exc}") from None
    css = weasyprint.CSS(string=f'body, table, h1, h2, h3 {{ font-family: "{family}", sans-serif; }}')
    document: bytes = weasyprint.HTML(string=html).write_pdf(stylesheets=[css])
    return document
