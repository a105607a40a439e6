"""Dispatch's ids (derived, so that a replayed command finds the same aggregate) and its rejection."""

from __future__ import annotations

import uuid

DISPATCH_NAMESPACE = uuid.UUID("a4c1d7e2-5f1b-4b8e-8d0a-6c2e9f3b7a15")
ROSTER_ID = uuid.uuid5(DISPATCH_NAMESPACE, "roster")


class CommandRejected(ValueError):
    """The command does not fit the case's state; nothing was recorded."""


def case_id_for(complaint_no: str) -> uuid.UUID:
    return uuid.uuid5(DISPATCH_NAMESPACE, f"case:{complaint_no}")


def derived_id(namespace: uuid.UUID, *parts: object) -> str:
    """An id derived from the aggregate's id and what names the occurrence (a fine, a part, …)."""
    return str(uuid.uuid5(namespace, ":".join(str(p) for p in parts)))
