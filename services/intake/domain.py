"""Intake's domain, in rooms: the complaint (`complaint.py`), the unit, void numbers and calendar years
(`units.py`), typed state (`state.py`) and identities (`identity.py`). Pure: no I/O, no clock.

Events are the Structs of `shared.events` (one definition per event); the nested event classes this
module once held are mapped to them by `shared.events.legacy`. The aggregates stay importable from
here: the first stored event of each names its class by this module (`services.intake.domain:Complaint`).
"""

from __future__ import annotations

from services.intake.complaint import ESCALATED_DEADLINES, SATISFIED_RATING, Complaint
from services.intake.identity import (
    CALENDAR_NAMESPACE,
    CALL_NAMESPACE,
    EQUIPMENT_NAMESPACE,
    ERASURE_NAMESPACE,
    VOID_NAMESPACE,
    CommandRejected,
    calendar_id_for,
    complaint_id_for,
    equipment_id_for,
    void_id_for,
)
from services.intake.units import CalendarYear, Equipment, Erasure, VoidNumber, normalise_problem
from shared.domain.org import DEPARTMENTS

__all__ = [
    "CALENDAR_NAMESPACE",
    "CALL_NAMESPACE",
    "DEPARTMENTS",
    "EQUIPMENT_NAMESPACE",
    "ERASURE_NAMESPACE",
    "ESCALATED_DEADLINES",
    "SATISFIED_RATING",
    "VOID_NAMESPACE",
    "CalendarYear",
    "CommandRejected",
    "Complaint",
    "Equipment",
    "Erasure",
    "VoidNumber",
    "calendar_id_for",
    "complaint_id_for",
    "equipment_id_for",
    "normalise_problem",
    "void_id_for",
]
