"""The HTTP edge: every request is answered, a hostile one with a 4xx and its reason, never a 500.

- `EdgeGuard` (ASGI middleware): a NUL in the path or query is a 400 (PostgreSQL text cannot hold
  one); a body over `ApiLimits.max_body_bytes` is a 413, by its Content-Length or while it streams;
  an unexpected exception is a 500 whose body carries only a correlation id, logged with the trace.
- `read_json_object`: a command body must be `application/json` (415), valid JSON (422), an object,
  at most `max_json_depth` deep, without NUL characters or lone surrogates (422).
- `forward_command`: NATS request/reply with a bounded wait; no answer in time is a 504, no responder
  or no broker a 503 with `Retry-After`.
- Error handlers: PostgreSQL away (connection refused, pool wait ran out) is a 503 with `Retry-After`;
  a statement over its time limit is a 504; unknown routes and methods name what was asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
import nats.errors
import psycopg
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from nats.aio.client import Client as NatsClient
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.reporting.auth_http import staff_command
from shared.events import commands as cmd

log = structlog.get_logger()

MAX_INT64 = 2**63 - 1
"""The largest `offset` PostgreSQL takes (bigint)."""
DRAIN_S = 10.0
"""How long an oversized body is read and dropped before the 413 (then the connection closes)."""


@dataclass(frozen=True)
class ApiLimits:
    """Bounds of the HTTP API; `from_env` reads the `AFTERSALES_HTTP_*` overrides."""

    max_body_bytes: int = 256 * 1024
    max_json_depth: int = 32
    command_timeout_s: float = 10.0
    retry_after_s: int = 5

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ApiLimits:
        env = os.environ if env is None else env
        default = cls()
        return cls(
            max_body_bytes=int(env.get("AFTERSALES_HTTP_MAX_BODY_BYTES", default.max_body_bytes)),
            max_json_depth=int(env.get("AFTERSALES_HTTP_MAX_JSON_DEPTH", default.max_json_depth)),
            command_timeout_s=float(env.get("AFTERSALES_HTTP_COMMAND_TIMEOUT_S", default.command_timeout_s)),
            retry_after_s=int(env.get("AFTERSALES_HTTP_RETRY_AFTER_S", default.retry_after_s)),
        )


def limits_of(request: Request) -> ApiLimits:
    limits: ApiLimits = request.app.state.limits
    return limits


class BodyTooLarge(Exception):
    """The request body streamed past the limit."""


def _json_error(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


class EdgeGuard:
    """Pure ASGI middleware in front of the routes (see the module docstring)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query: bytes = scope.get("query_string", b"")
        raw_path: bytes = scope.get("raw_path") or b""
        if "\x00" in scope["path"] or b"\x00" in query or b"%00" in query.lower() or b"%00" in raw_path.lower():
            await _json_error(400, "a NUL character is not allowed in the path or the query")(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await self._too_large(scope, receive, send)
            return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._too_large(scope, receive, send)
        except Exception as exc:  # the catch-all: whatever it is, the client gets no trace
            correlation_id = uuid.uuid4().hex
            log.error(
                "http_unexpected_error",
                correlation_id=correlation_id,
                path=scope["path"],
                error=repr(exc),
                traceback=traceback.format_exc(),
            )
            if not started:
                body = {"detail": "internal error; quote the correlation id", "correlation_id": correlation_id}
                await JSONResponse(body, status_code=500)(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        """413, after reading and dropping the rest of the body for a bounded time: a client that
        writes its whole request before reading would otherwise see a reset connection, not the 413."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN_S):
                while True:
                    message = await receive()
                    if message["type"] != "http.request" or not message.get("more_body", False):
                        break
        detail = f"the request body is larger than {self.max_body_bytes} bytes"
        await _json_error(413, detail, {"Connection": "close"})(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _json_problem(value: Any, max_depth: int, depth: int = 1) -> str | None:
    """Why a parsed JSON value may not go further (too deep, NUL, lone surrogate), or None."""
    if depth > max_depth:
        return f"the JSON is nested deeper than {max_depth} levels"
    if isinstance(value, str):
        if "\x00" in value:
            return "a NUL character is not allowed in a JSON string"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "a JSON string holds a lone UTF-16 surrogate"
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            problem = _json_problem(key, max_depth, depth) or _json_problem(item, max_depth, depth + 1)
            if problem:
                return problem
    elif isinstance(value, list):
        for item in value:
            problem = _json_problem(item, max_depth, depth + 1)
            if problem:
                return problem
    return None


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


async def read_json_object(request: Request) -> dict[str, Any] | JSONResponse:
    """The body of a command: a JSON object within the limits, or the 4xx response that says why."""
    content_type = request.headers.get("content-type", "")
    if not _is_json(content_type):
        return JSONResponse(
            {"ok": False, "error": f"the body must be application/json, not {content_type or 'unspecified'}"},
            status_code=415,
        )
    raw = await request.body()
    body: Any = None
    problem: str | None
    try:
        body = json.loads(raw)
    except RecursionError:
        problem = "the JSON is nested too deeply"
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, too many digits
        problem = f"the body is not valid JSON: {exc}"
    else:
        problem = _json_problem(body, limits_of(request).max_json_depth)
    if problem is None and not isinstance(body, dict):
        problem = "the body must be a JSON object"
    if problem is not None or not isinstance(body, dict):
        return JSONResponse({"ok": False, "error": problem}, status_code=422)
    return body


async def forward_command(request: Request, subject: str, service: str, message: dict[str, Any]) -> JSONResponse:
    """Send a staff command to `service` over NATS request/reply, as the authenticated person and with
    their credential (`auth_http.staff_command`), and answer with its reply."""
    prepared = staff_command(request, message)
    if isinstance(prepared, JSONResponse):
        return prepared
    message, headers = prepared
    client: NatsClient | None = request.app.state.nats
    limits = limits_of(request)
    retry = {"Retry-After": str(limits.retry_after_s)}
    if client is None:
        return JSONResponse({"ok": False, "error": "commands are not wired in this process"}, status_code=503)
    try:
        payload = msgspec.json.encode(message)
        reply_msg = await client.request(subject, payload, timeout=limits.command_timeout_s, headers=headers)
    except nats.errors.NoRespondersError:
        error = f"the {service} service is not running (no responder on {subject})"
        return JSONResponse({"ok": False, "error": error}, status_code=503, headers=retry)
    except nats.errors.TimeoutError:
        error = f"the {service} service did not answer within {limits.command_timeout_s:g} s"
        return JSONResponse({"ok": False, "error": error}, status_code=504, headers=retry)
    except (
        nats.errors.ConnectionClosedError,
        nats.errors.ConnectionReconnectingError,
        nats.errors.OutboundBufferLimitError,
    ):
        error = "the message broker (NATS) is not reachable"
        return JSONResponse({"ok": False, "error": error}, status_code=503, headers=retry)
    try:
        reply = cmd.decode_reply(reply_msg.data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        return JSONResponse(
            {"ok": False, "error": f"the {service} service answered unreadably: {exc}"}, status_code=502
        )
    return JSONResponse(msgspec.to_builtins(reply), status_code=reply.status)


COMMAND_RESPONSES: dict[int | str, dict[str, Any]] = {
    413: {"description": "the body is larger than the limit"},
    415: {"description": "the body is not application/json"},
    503: {"description": "the service or the broker is away (Retry-After)"},
    504: {"description": "the service did not answer in time (Retry-After)"},
}
READ_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "a NUL character in the path or query"},
    503: {"description": "PostgreSQL is away (Retry-After)"},
    504: {"description": "the query ran over its time limit"},
}


def install_error_handlers(api: FastAPI) -> None:
    """Map infrastructure failures and routing misses to answers with a reason."""

    async def database_away(request: Request, exc: Exception) -> JSONResponse:
        log.warning("http_database_away", path=request.url.path, error=repr(exc))
        retry = {"Retry-After": str(limits_of(request).retry_after_s)}
        return _json_error(503, f"the database (PostgreSQL) is not reachable: {type(exc).__name__}", retry)

    async def database_slow(request: Request, exc: Exception) -> JSONResponse:
        log.warning("http_database_slow", path=request.url.path, error=repr(exc))
        retry = {"Retry-After": str(limits_of(request).retry_after_s)}
        return _json_error(504, "the database query ran over its time limit", retry)

    async def read_model_missing(request: Request, exc: Exception) -> JSONResponse:
        log.warning("http_read_model_missing", path=request.url.path, error=repr(exc))
        retry = {"Retry-After": str(limits_of(request).retry_after_s)}
        return _json_error(503, "the read model is not created yet (is the reporting service running?)", retry)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        if not isinstance(exc, StarletteHTTPException):
            raise TypeError(f"not an HTTP exception: {exc!r}")
        detail = exc.detail
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no route {request.method} {request.url.path}"
        elif exc.status_code == 405 and detail == "Method Not Allowed":
            detail = f"{request.method} is not allowed on {request.url.path}"
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)

    api.add_exception_handler(psycopg.OperationalError, database_away)
    api.add_exception_handler(psycopg.InterfaceError, database_away)
    api.add_exception_handler(psycopg.errors.QueryCanceled, database_slow)
    api.add_exception_handler(psycopg.errors.UndefinedTable, read_model_missing)
    api.add_exception_handler(psycopg.errors.InvalidSchemaName, read_model_missing)
    api.add_exception_handler(StarletteHTTPException, http_error)
