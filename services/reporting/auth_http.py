"""Staff identity on the HTTP API (docs/contract.md §6).

`AuthGuard` (ASGI middleware) authenticates every request except the public paths — `/healthz`,
`/metrics` while `AFTERSALES_METRICS_PUBLIC` is on (the default, for Prometheus scrapes), the API
description (`/docs`, `/redoc`, `/openapi.json`, so that `/docs` can load and then authorize), static
assets (`/console/static/…`, `/console/vendor/…`) and the console login (`/console/login`). The
credential is `Authorization: Bearer <API token or OIDC JWT>`, or the HttpOnly cookie the console
login sets. No credential, or one that
proves nobody: 401 with `WWW-Authenticate: Bearer` (a console page asked for by a browser is sent to
the login instead). The principal is put at `request.state.principal`.

`staff_command` turns a route's body into the command sent over NATS: a read-only role is refused
(403), a body whose `actor` is another person or role is refused (403, logged with the principal),
the actor is set from the principal, and the credential travels along in the `Authorization` header,
so that the service checks it again.
"""

from __future__ import annotations

import asyncio
import html
import os
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs

import psycopg
import psycopg_pool
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.security.authn import AUTH_HEADER, COOKIE, Authenticator, bearer
from shared.security.oidc import OidcConfig
from shared.security.principal import READ_ONLY_ROLES, Principal, Unauthenticated

log = structlog.get_logger()

ALWAYS_PUBLIC = ("/healthz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json", "/favicon.ico",
                 "/console/login", "/console/logout")  # fmt: skip
PUBLIC_PREFIXES = ("/static/", "/console/static/", "/console/vendor/")
"""Static files: the console's own and its vendored libraries (Swagger UI, ReDoc, ECharts)."""


def metrics_public(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return env.get("AFTERSALES_METRICS_PUBLIC", "1").strip().lower() not in ("0", "false", "no", "off")


def is_public(path: str, metrics_open: bool) -> bool:
    return path in ALWAYS_PUBLIC or path.startswith(PUBLIC_PREFIXES) or (metrics_open and path == "/metrics")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def credential_of(scope: Scope) -> str | None:
    """`Authorization: Bearer …` first, else the console's cookie."""
    credential = bearer(_header(scope, b"authorization"))
    if credential:
        return credential
    cookies = _header(scope, b"cookie") or ""
    for part in cookies.split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE and value:
            return value
    return None


def unauthenticated(reason: str) -> JSONResponse:
    return JSONResponse({"detail": f"not authenticated: {reason}"}, status_code=401,
                        headers={"WWW-Authenticate": 'Bearer realm="aftersales"'})  # fmt: skip


class AuthGuard:
    def __init__(self, app: ASGIApp, authenticator: Callable[[], Authenticator], metrics_open: bool) -> None:
        self.app = app
        self.authenticator = authenticator
        self.metrics_open = metrics_open

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_public(scope["path"], self.metrics_open):
            await self.app(scope, receive, send)
            return
        credential = credential_of(scope)
        try:
            principal = await asyncio.to_thread(self.authenticator().authenticate_credential, credential)
        except Unauthenticated as exc:
            accept = _header(scope, b"accept") or ""
            if (scope["path"] == "/" or scope["path"].startswith("/console")) and "text/html" in accept:
                await RedirectResponse("/console/login", status_code=303)(scope, receive, send)
                return
            log.info("http_unauthenticated", path=scope["path"], reason=str(exc))
            await unauthenticated(str(exc))(scope, receive, send)
            return
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as exc:
            log.warning("http_credentials_away", path=scope["path"], error=repr(exc))
            body = {"detail": f"the credential store (PostgreSQL) is not reachable: {type(exc).__name__}"}
            await JSONResponse(body, status_code=503, headers={"Retry-After": "5"})(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["principal"] = principal
        state["credential"] = credential
        await self.app(scope, receive, send)


def principal_of(request: Request) -> Principal | None:
    principal: Principal | None = getattr(request.state, "principal", None)
    return principal


def staff_command(request: Request, message: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]] | JSONResponse:
    """The command as the authenticated person sends it, with the headers to forward; or the refusal."""
    principal = principal_of(request)
    credential: str | None = getattr(request.state, "credential", None)
    if principal is None or credential is None:
        return unauthenticated("no credential")
    who = {"actor": principal.id, "role": principal.role, "credential_id": principal.credential_id,
           "method": principal.method, "path": request.url.path}  # fmt: skip
    declared = message.get("actor")
    if principal.role in READ_ONLY_ROLES:
        reason = f"role {principal.role!r} is read-only: no commands"
    elif declared is not None and (
        not isinstance(declared, dict) or declared.get("id") != principal.id or declared.get("role") != principal.role
    ):
        reason = (f"the body's actor {declared!r} is not the authenticated {principal.id} ({principal.role}); "
                  "the acting person comes from the credential, omit `actor`")  # fmt: skip
    else:
        actor = {"id": principal.id, "role": principal.role}
        return {**message, "actor": actor}, {AUTH_HEADER: f"Bearer {credential}"}
    log.warning("http_command_refused", reason=reason, **who)
    return JSONResponse({"ok": False, "status": 403, "error": reason}, status_code=403)


def security_schemes(oidc: OidcConfig | None) -> dict[str, Any]:
    issuer = oidc.issuer if oidc is not None else "https://sso.example.com/realms/aftersales"
    return {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token from `aftersales users add` (`ast_…`), or an OIDC access token (JWT).",
        },
        "oidc": {
            "type": "openIdConnect",
            "openIdConnectUrl": issuer.rstrip("/") + "/.well-known/openid-configuration",
            "description": "The identity provider of AFTERSALES_OIDC_ISSUER; its JWT goes in `Authorization: Bearer`.",
        },
        "console_cookie": {
            "type": "apiKey",
            "in": "cookie",
            "name": COOKIE,
            "description": "The browser console's HttpOnly cookie, set by `POST /console/login`.",
        },
    }


def declare_security(api: FastAPI, metrics_open: bool) -> None:
    """OpenAPI: the security schemes, required on every operation but the public ones."""
    base = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is not None:
            return api.openapi_schema
        schema = base()
        schema.setdefault("components", {})["securitySchemes"] = security_schemes(OidcConfig.from_env())
        schema["security"] = [{"bearer": []}, {"oidc": []}, {"console_cookie": []}]
        for path, operations in schema.get("paths", {}).items():
            if is_public(path, metrics_open):
                for operation in operations.values():
                    operation["security"] = []
            else:
                for operation in operations.values():
                    operation.setdefault("responses", {}).setdefault(
                        "401", {"description": "no credential, or one that proves nobody (WWW-Authenticate: Bearer)"}
                    )
        api.openapi_schema = schema
        return schema

    api.openapi = openapi  # type: ignore[method-assign]


LOGIN_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>登录 · 售后服务</title></head>
<body><main><h1>售后服务 · 登录</h1>{error}
<form method="post" action="/console/login"><label>API token (aftersales users add)
<input name="token" type="password" autocomplete="off" required></label> <button type="submit">登录</button></form>
</main></body></html>"""


def add_login_routes(api: FastAPI, authenticator: Callable[[], Authenticator]) -> None:
    """`/console/login`: a form that checks a token and keeps it in an HttpOnly, SameSite=Strict cookie
    (commands also need `application/json`, so a cross-site form cannot send one with it)."""

    @api.get("/console/login", tags=["console"], response_class=HTMLResponse, include_in_schema=False)
    async def login_page() -> HTMLResponse:
        return HTMLResponse(LOGIN_PAGE.format(error=""))

    @api.post("/console/login", tags=["console"], include_in_schema=False, response_model=None)
    async def login(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        token = (form.get("token") or [""])[0].strip()
        try:
            principal = await asyncio.to_thread(authenticator().authenticate_credential, token)
        except Unauthenticated as exc:
            error = f"<p role='alert'>登录失败: {html.escape(str(exc))}</p>"
            return HTMLResponse(LOGIN_PAGE.format(error=error), status_code=401)
        log.info("console_login", actor=principal.id, role=principal.role, credential_id=principal.credential_id)
        response = RedirectResponse("/", status_code=303)  # the console's dashboard
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https",
                            path="/", max_age=12 * 3600)  # fmt: skip
        return response

    @api.post("/console/logout", tags=["console"], include_in_schema=False, response_model=None)
    async def logout() -> Response:
        response = RedirectResponse("/console/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response


def optional_actor(body: dict[str, Any], actor: dict[str, Any]) -> dict[str, Any]:
    """A command body's schema: `actor` optional, and if given, it must be the authenticated person."""
    body["properties"]["actor"] = {
        **actor,
        "description": "Optional: the acting person comes from the credential; an actor naming another person "
        "or role is refused (403).",
    }
    body["required"] = [k for k in body.get("required", []) if k != "actor"]
    return body
