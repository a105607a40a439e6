"""The typed parts of intake's aggregate state (no `dict[str, Any]` bags)."""

from __future__ import annotations

import msgspec


class Warranty(msgspec.Struct, frozen=True):
    """WAR-PERIOD as last decided: in warranty, until when, and the days it was extended by."""

    in_warranty: bool | None = None
    until: str | None = None
    extension_days: int = 0


class Repair(msgspec.Struct, frozen=True):
    problem: str
    outcome: str
    stops_work: bool


class UnitRepair(msgspec.Struct, frozen=True):
    """A repair in a unit's history, with the complaint it was recorded on."""

    complaint_no: str
    problem: str
    outcome: str


class FineRecord(msgspec.Struct, frozen=True):
    """A fine on the complaint: its rule and the person charged (None: unattributed)."""

    rule: str
    person: str | None


class Survey(msgspec.Struct, frozen=True):
    rating: int
    satisfied: bool
