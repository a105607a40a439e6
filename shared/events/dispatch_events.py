"""Wire payloads of events the dispatch service publishes (`aftersales.dispatch.<Type>`).

Registered into the shared catalog on import (catalog.py imports this module at its end).
"""

from __future__ import annotations

import datetime as dt

import msgspec

from shared.events.catalog import EventSpec, register


class ReplacedPart(msgspec.Struct, frozen=True):
    """One replaced part as the service form lists it, with every PRT-RECORD field."""

    part_id: str
    dispatch_order_no: str  # 审批号
    equipment_no: str
    material_code: str
    description: str
    quantity: int
    unit_price_fen: int
    total_fen: int
    responsible_engineer: str
    region: str
    fault: str
    return_to_hq: bool
    completed_on: dt.date


class PartsReplaced(msgspec.Struct, frozen=True):
    """dispatch → parts: the parts a signed service form replaced (PRT-RECORD)."""

    complaint_no: str
    dispatch_id: str
    parts: list[ReplacedPart]
    completed_at: dt.datetime


register(EventSpec("PartsReplaced", 1, PartsReplaced, "dispatch", "Parts replaced on a signed service form."))
