"""Intake's aggregate identities and its refusal (pure)."""

from __future__ import annotations

import datetime as dt
import uuid

CALL_NAMESPACE = uuid.UUID("0f6f1f0e-2b1d-4a0c-9a55-9d7b8e1c4d21")
EQUIPMENT_NAMESPACE = uuid.UUID("7d3c4a63-3b5a-4f0e-8c43-2d3f7b9a6e10")
VOID_NAMESPACE = uuid.UUID("5b0e7f3c-9d41-4e6a-8a2f-1c3d5e7f9a0b")
CALENDAR_NAMESPACE = uuid.UUID("5b0c7a4e-1f3d-4e8a-b6a2-0c9d3e7f2a11")
ERASURE_NAMESPACE = uuid.UUID("5b8f0c2e-61a4-4d7e-9f3b-0c8a2e7d41b6")


class CommandRejected(ValueError):
    """The command does not fit the aggregate's state; nothing was recorded."""


def complaint_id_for(call_id: str) -> uuid.UUID:
    """INT-DEDUP: one telephony call is one complaint, so the call id *is* the aggregate identity."""
    return uuid.uuid5(CALL_NAMESPACE, call_id)


def equipment_id_for(serial: str) -> uuid.UUID:
    return uuid.uuid5(EQUIPMENT_NAMESPACE, serial.strip().upper())


def void_id_for(complaint_no: str) -> uuid.UUID:
    return uuid.uuid5(VOID_NAMESPACE, complaint_no)


def calendar_id_for(year: int) -> uuid.UUID:
    return uuid.uuid5(CALENDAR_NAMESPACE, f"calendar:{year}")


def erasure_id_for(sorted_key_ids: list[str], at: dt.datetime, causation_id: str) -> uuid.UUID:
    return uuid.uuid5(ERASURE_NAMESPACE, f"{','.join(sorted_key_ids)}:{at.isoformat()}:{causation_id}")


def derived_id(namespace: uuid.UUID, *parts: object) -> str:
    return str(uuid.uuid5(namespace, ":".join(str(p) for p in parts)))
