"""The filters of the read API's lists and reports, as one SQL condition on the complaints table."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from psycopg.sql import SQL, Composable, Composed


@dataclass(frozen=True)
class ReadFilter:
    """Complaints received in [since, until), of this status, region, product model, receiving agent
    (`agent_id`) and call; void register numbers (INT-REGISTER) only when `include_void`."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    status: str | None = None
    region: str | None = None
    model: str | None = None
    agent: str | None = None
    call_id: str | None = None
    include_void: bool = True

    def where(self, *extra: Composable) -> tuple[Composable, dict[str, Any]]:
        """`WHERE …` (or nothing) and its parameters; `extra` conditions are added."""
        columns = {
            "since": "received_at >= %(since)s",
            "until": "received_at < %(until)s",
            "status": "status = %(status)s",
            "region": "doc->'site'->>'region' = %(region)s",
            "model": "doc->'equipment'->>'model' = %(model)s",
            "agent": "doc->>'agent_id' = %(agent)s",
            "call_id": "call_id = %(call_id)s",
        }
        params = {name: getattr(self, name) for name in columns if getattr(self, name) is not None}
        conditions: list[Composable] = [SQL(columns[name]) for name in params]
        conditions.extend(extra)
        if not self.include_void:
            conditions.append(SQL("status <> 'void'"))
        if not conditions:
            return SQL(""), params
        return Composed([SQL(" WHERE "), SQL(" AND ").join(conditions)]), params
