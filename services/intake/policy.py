"""Intake rules of DOMAIN.md §1 as pure functions over data, each with its rule id."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from shared.events.telephony import ComplaintReceivedV1

CHINA = ZoneInfo("Asia/Shanghai")


def register_number(sequence: int, received_at: dt.datetime) -> str:
    """INT-REGISTER: 客户投诉编号 `TS-<year>-<8-digit sequence>`; the sequence is never reused."""
    year = received_at.astimezone(CHINA).year
    return f"TS-{year}-{sequence:08d}"


def missing_fields(call: ComplaintReceivedV1) -> list[str]:
    """INT-REQUIRED: the fields a complaint needs; what is missing flags the record incomplete.

    The site needs a region and either the distance from the nearest base or coordinates.
    The acceptance date may be "unknown" (null) — that is handled by WAR-PERIOD, not here.
    """
    required: dict[str, str | None] = {
        "customer.name": call.customer.name,
        "customer.phone": call.customer.phone,
        "equipment.model": call.equipment.model,
        "equipment.serial": call.equipment.serial,
        "description": call.description,
        "site.region": call.site.region,
    }
    missing = [name for name, value in required.items() if value is None or not value.strip()]
    has_coordinates = call.site.lat is not None and call.site.lon is not None
    if call.site.distance_km is None and not has_coordinates:
        missing.append("site.distance_km")
    return missing
