"""Events every service with deadlines records under the same wire types (docs/contract.md §3):
deadlines (shared/domain/deadlines.py), fines and escalations. One definition each."""

from __future__ import annotations

import datetime as dt
from typing import Any

from shared.events.base import DecisionEvent, DecisionOutputs, DomainEvent


class DeadlineSet(DecisionOutputs, frozen=True, kw_only=True):
    """A deadline was set by its rule's decision (`outputs.due_at`)."""


class DeadlineMet(DomainEvent, frozen=True, kw_only=True):
    deadline: str
    met_at: dt.datetime
    late: bool


class DeadlineBreached(DomainEvent, frozen=True, kw_only=True):
    deadline: str
    due_at: str
    breached_at: dt.datetime


class FineLevied(DecisionEvent, frozen=True, kw_only=True):
    """A decision about a person (docs/rules.md §4): rule, amount, the facts that triggered it."""

    fine_id: str
    person: str | None
    role: str
    department: str
    amount_fen: int
    reason: str


class FineAttributed(DomainEvent, frozen=True, kw_only=True):
    """An unattributed fine charged to a person by the branch manager (docs/rules.md §9); the
    FineLevied stays as it was."""

    fine_id: str
    fine_rule: str
    person: str
    role: str
    department: str
    actor: str
    reason: str


class EscalationRaised(DomainEvent, frozen=True, kw_only=True):
    """A matter escalated (branch manager, management); `ack_due_at` when the escalation chain set a
    time to acknowledge it (dispatch's ESC-CHAIN). Dispatch records that ESC-CHAIN decision with it
    (`rule`, `policy_version`, `inputs` travel in the envelope, `outputs` in `data`); intake's
    escalations carry no decision (None)."""

    escalation_id: str
    trigger_rule: str
    to: str
    reason: str
    ack_due_at: str | None = None
    rule: str | None = None
    policy_version: str | None = None
    inputs: dict[str, Any] | None = None
    outputs: dict[str, Any] | None = None
