"""Dispatch's aggregates, in their rooms: the engineer roster (`roster`) and one dispatch case per
complaint (`case`, with its fines and escalations ledger in `ledger`); their typed state in `state`,
ids in `identity`. Pure: no I/O, no clock. Events are `shared.events.dispatch_events` and the shared
`common_events`; deadlines run on `shared.domain.deadlines`.
"""

from __future__ import annotations

from services.dispatch.case import CHINA, Case
from services.dispatch.identity import DISPATCH_NAMESPACE, ROSTER_ID, CommandRejected, case_id_for
from services.dispatch.roster import Roster

__all__ = ["CHINA", "DISPATCH_NAMESPACE", "ROSTER_ID", "Case", "CommandRejected", "Roster", "case_id_for"]
