"""Static files of the console and the vendored browser libraries, and the offline API docs.

The libraries come from npm (`web/package.json`, pinned by `web/package-lock.json`, installed by
`./dev` with `npm ci`); only the files listed in `VENDOR` are served, from `web/node_modules` or the
directory named by `AFTERSALES_WEB_ASSETS`. Nothing is loaded from outside the server.
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache
from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

STATIC_PREFIX = "/console/static"
VENDOR_PREFIX = "/console/vendor"
STATIC_DIR = Path(__file__).parent / "static"
# URL name → path under node_modules.
VENDOR: dict[str, str] = {
    "echarts.min.js": "echarts/dist/echarts.min.js",
    "swagger-ui-bundle.js": "swagger-ui-dist/swagger-ui-bundle.js",
    "swagger-ui.css": "swagger-ui-dist/swagger-ui.css",
    "favicon-32x32.png": "swagger-ui-dist/favicon-32x32.png",
    "redoc.standalone.js": "redoc/bundles/redoc.standalone.js",
}
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
# What a served library would otherwise load from outside: ReDoc's sidebar shows a logo from its CDN.
REWRITES: dict[str, tuple[tuple[bytes, bytes], ...]] = {
    "redoc.standalone.js": ((b"https://cdn.redoc.ly/redoc/logo-mini.svg", b"/console/vendor/favicon-32x32.png"),),
}
# Every console page and the API docs: the browser loads nothing from another origin, whatever a
# library tries (inline scripts and styles allowed: Swagger UI starts inline, ReDoc and ECharts style inline).
CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "frame-ancestors 'self'; base-uri 'self'; form-action 'self'"
)


def node_modules() -> Path:
    """Where npm installed the libraries: `AFTERSALES_WEB_ASSETS`; else `web/node_modules` of the
    checkout (an editable install, ./dev); else `web/node_modules` beside the virtualenv (deploy/README.md:
    /opt/aftersales/venv → /opt/aftersales/web/node_modules)."""
    configured = os.environ.get("AFTERSALES_WEB_ASSETS")
    if configured:
        return Path(configured)
    checkout = Path(__file__).resolve().parents[3] / "web" / "node_modules"
    beside_venv = Path(sys.prefix).parent / "web" / "node_modules"
    return checkout if checkout.is_dir() or not beside_venv.is_dir() else beside_venv


def vendor_url(name: str) -> str:
    if name not in VENDOR:
        raise KeyError(f"not a vendored asset: {name}")
    return f"{VENDOR_PREFIX}/{name}"


@lru_cache(maxsize=8)
def _rewritten(path: Path, mtime_ns: int, name: str) -> bytes:
    content = path.read_bytes()
    for old, new in REWRITES[name]:
        content = content.replace(old, new)
    return content


def with_csp(response: HTMLResponse) -> HTMLResponse:
    response.headers["Content-Security-Policy"] = CSP
    return response


def add_routes(api: FastAPI) -> None:
    api.mount(STATIC_PREFIX, StaticFiles(directory=STATIC_DIR), name="console-static")

    @api.get(VENDOR_PREFIX + "/{name}", include_in_schema=False)
    async def vendor(name: str) -> Response:
        relative = VENDOR.get(name)
        path = None if relative is None else node_modules() / relative
        if path is None or not path.is_file():
            raise HTTPException(status_code=404, detail=f"no asset {name} (run `npm ci` in web/)")
        headers = {"Cache-Control": "max-age=3600"}
        if name in REWRITES:
            content = _rewritten(path, path.stat().st_mtime_ns, name)
            return Response(content, media_type=MEDIA_TYPES.get(path.suffix), headers=headers)
        return FileResponse(path, media_type=MEDIA_TYPES.get(path.suffix), headers=headers)

    @api.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return with_csp(
            get_swagger_ui_html(
                openapi_url=api.openapi_url or "/openapi.json",
                title=f"{api.title} — Swagger UI",
                swagger_js_url=vendor_url("swagger-ui-bundle.js"),
                swagger_css_url=vendor_url("swagger-ui.css"),
                swagger_favicon_url=vendor_url("favicon-32x32.png"),
                swagger_ui_parameters={"validatorUrl": None},  # no badge from validator.swagger.io
            )
        )

    @api.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return with_csp(
            get_redoc_html(
                openapi_url=api.openapi_url or "/openapi.json",
                title=f"{api.title} — ReDoc",
                redoc_js_url=vendor_url("redoc.standalone.js"),
                redoc_favicon_url=vendor_url("favicon-32x32.png"),
                with_google_fonts=False,
            )
        )
