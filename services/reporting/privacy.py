"""Personal data in the read API (PII-VIEW, docs/rules.md §11): clear for the roles that need it,
masked for every other role and for an unknown caller, `已删除` once erased; every read that shows
personal data in clear is logged with who read which complaint."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, Protocol

import structlog
from fastapi import Request

from shared.security.personal import KeyReader, Revealed, reveal_with

log = structlog.get_logger()


class Reader(Protocol):
    """Who reads: the authenticated principal (`shared/security/principal.py`) has these."""

    @property
    def id(self) -> str: ...

    @property
    def role(self) -> str: ...


def current_reader(request: Request) -> Reader | None:
    """The authenticated principal of the request, None when there is none (then everything
    personal is masked, the most restricted view)."""
    principal: Reader | None = getattr(request.state, "principal", None)
    return principal


async def shown_to(
    reader: Reader | None, keys: KeyReader, document: Any, complaint_nos: Iterable[str], route: str
) -> Any:
    """`document` as `reader` may see it; a read with anything in clear is logged (PII-VIEW)."""
    role = None if reader is None else reader.role
    seen = Revealed()
    shown = await asyncio.to_thread(reveal_with, keys, document, role, seen)
    if seen.clear:
        log.info("personal_data_read", reader=None if reader is None else reader.id, role=role, route=route,
                 complaints=sorted(set(complaint_nos)), values=seen.clear)  # fmt: skip
    return shown
