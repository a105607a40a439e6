"""The filters of the read API's lists and reports: a value the routes build; the store
(`application.py`, `where_clause`) turns it into one SQL condition on the complaints table."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


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
