"""The old part's state and its first steps: recorded (PRT-RECORD, PRT-DUE-7D), the record completed,
a delay reported, overdue days and the FIN-PART-LATE fine, and the way back to headquarters (hand-in,
recovery, shipping, return). `OldPart` (old_part.py) adds disposition, sale, disposal and
responsibility on top.

Pure: no I/O, no clock. Time and rule outcomes come in as values (`Decision`s computed by policy), and
every decision event records the rule id, policy version, inputs and outputs it carries.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Self

import msgspec

from services.parts.identity import CommandRejected, china_day, is_blank, part_id_for
from services.parts.state import Claim, Disposal, Responsibility, Sale
from shared.domain.aggregate import EventSourced, applies
from shared.domain.deadlines import Deadlines
from shared.domain.org import department_of
from shared.events import parts_events as pe
from shared.events.base import DecisionEvent
from shared.events.decisions import Actor, Decision


class PartBase(EventSourced):
    """One replaced part from its record (PRT-RECORD) to its return, sale or disposal: the state."""

    part_id: str
    complaint_no: str
    dispatch_id: str | None
    record: pe.PartRecord
    record_missing: list[str]  # PRT-RECORD fields the record lacks (parts-2026.2)
    due_date: str
    status: str
    delay_days: int
    delay_reason: str | None
    fine_id: str | None
    handed_in_on: str | None
    recovered_on: str | None
    shipped_on: str | None
    returned_on: str | None
    disposition: str | None
    sale: Sale | None
    disposal: Disposal | None
    responsibility: Responsibility | None
    claim: Claim | None
    deadlines: Deadlines  # PRT-RESPONSIBILITY on the shared engine

    @property
    def correlation_id(self) -> str:
        return self.complaint_no

    # ------------------------------------------------------------------ PRT-RECORD + PRT-DUE-7D
    @classmethod
    def record_part(
        cls, *, part_id: str, complaint_no: str, dispatch_id: str | None, record: pe.PartRecord, recorded_by: str,
        due: Decision, at: dt.datetime, causation_id: str,
    ) -> Self:  # fmt: skip
        """A replaced part recorded with every PRT-RECORD field; the due date decided (PRT-DUE-7D)."""
        return cls._open(pe.PartRecorded, part_id_for(part_id), at, complaint_no, causation_id, part_id=part_id,
                         complaint_no=complaint_no, dispatch_id=dispatch_id, record=record, recorded_by=recorded_by,
                         **due.as_record())  # fmt: skip

    @applies(pe.PartRecorded)
    def _recorded(self, e: pe.PartRecorded) -> None:
        self.part_id, self.complaint_no, self.dispatch_id = e.part_id, e.complaint_no, e.dispatch_id
        self.record = e.record
        self.record_missing, self.due_date, self.status = [], e.outputs["due_date"], "awaiting_hand_in"
        self.delay_days, self.delay_reason, self.fine_id = 0, None, None
        self.handed_in_on = self.recovered_on = self.shipped_on = self.returned_on = None
        self.disposition = "return" if e.record.return_to_hq else None
        self.sale, self.disposal, self.responsibility, self.claim = None, None, None, None
        self.deadlines = Deadlines()

    def _decision(self, event_class: type[DecisionEvent], decision: Decision, at: dt.datetime, causation_id: str,
                  **fields: object) -> None:  # fmt: skip
        self._trigger(event_class, at, causation_id, **decision.as_record(), **fields)

    # ------------------------------------------------------------------ PRT-RECORD enforced (parts-2026.2)
    def flag_incomplete(self, check: Decision, at: dt.datetime, causation_id: str) -> None:
        """PRT-RECORD: the part came (from dispatch) without some fields of its record; they are named, and
        a sale waits for those in `outputs.sale_blocked_by` until someone completes the record."""
        if not check.outputs["complete"]:
            self._decision(pe.PartRecordIncomplete, check, at, causation_id, missing=check.outputs["missing"])

    @applies(pe.PartRecordIncomplete)
    def _incomplete(self, e: pe.PartRecordIncomplete) -> None:
        self.record_missing = list(e.missing)

    def complete_record(
        self, actor: Actor, fields: dict[str, str], check: Decision, at: dt.datetime, causation_id: str
    ) -> None:
        """Fill in fields the record lacks (only those: a recorded value is not overwritten)."""
        if not fields:
            raise CommandRejected("PRT-RECORD: nothing to complete; give at least one missing field")
        blank = [name for name, value in fields.items() if is_blank(value)]
        if blank:
            raise CommandRejected(f"PRT-RECORD: {', '.join(blank)} cannot be completed with a blank value")
        recorded = {name: getattr(self.record, name) for name in fields if not is_blank(getattr(self.record, name))}
        if recorded:
            raise CommandRejected(
                f"PRT-RECORD: part {self.part_id} has "
                + ", ".join(f"{name} {value!r}" for name, value in recorded.items())
                + " recorded already; only missing fields can be completed"
            )
        self._decision(pe.PartRecordCompleted, check, at, causation_id, actor=actor.id, role=actor.role,
                       fields=fields, missing=check.outputs["missing"])  # fmt: skip

    @applies(pe.PartRecordCompleted)
    def _completed(self, e: pe.PartRecordCompleted) -> None:
        self.record = msgspec.structs.replace(self.record, **e.fields)
        self.record_missing = list(e.missing)

    def require_record_for_sale(self, check: Decision) -> None:
        """A sale waits for the record fields the policy names (the region: PRT-REMOTE depends on it)."""
        blocked = check.outputs.get("sale_blocked_by") or []
        if blocked:
            raise CommandRejected(
                f"PRT-RECORD: part {self.part_id} cannot be sold while its record lacks the {', '.join(blocked)} "
                "(the price floor and the remote-region reduction PRT-REMOTE depend on the region); "
                "the warehouse keeper or the old-parts officer completes the record first (complete_record)"
            )

    @property
    def handed_in(self) -> bool:
        return self.handed_in_on is not None

    @property
    def closed(self) -> bool:
        return self.status in ("returned", "sold", "disposed")

    def _require_open(self) -> None:
        if self.closed:
            raise CommandRejected(f"part {self.part_id} is {self.status}")

    # ------------------------------------------------------------------ delay, overdue, fine
    def _require_responsible(self, actor: Actor) -> None:
        """An engineer acts only on the parts they replaced (a delay reason excuses a fine)."""
        responsible = self.record.responsible_engineer
        if actor.role == "engineer" and responsible and actor.id != responsible:
            raise CommandRejected(f"part {self.part_id} is {responsible}'s; {actor.id} may not act on it")

    def report_delay(
        self, actor: Actor, reason: str, expected_on: dt.date | None, at: dt.datetime, causation_id: str
    ) -> None:
        """The engineer expects a late hand-in and gives the reason (PRT-DUE-7D); before the fine, this
        excuses FIN-PART-LATE."""
        self._require_responsible(actor)
        if self.handed_in:
            raise CommandRejected(f"part {self.part_id} was already handed in on {self.handed_in_on}")
        self._trigger(pe.PartHandInDelayReported, at, causation_id, actor=actor.id, reason=reason,
                      expected_on=None if expected_on is None else expected_on.isoformat(),
                      excuses_fine=self.fine_id is None)  # fmt: skip

    @applies(pe.PartHandInDelayReported)
    def _delay_reported(self, e: pe.PartHandInDelayReported) -> None:
        self.delay_reason = e.reason

    def check_overdue(self, delay: Decision, fine: Decision, now: dt.datetime, causation_id: str) -> bool:
        """The clock's daily look at an unreturned part: record grown delay days, and the fine once."""
        if self.handed_in or self.closed:
            return False
        changed = False
        days = int(delay.outputs["delay_days"])
        if days > self.delay_days:
            self._decision(pe.PartOverdue, delay, now, causation_id, delay_days=days,
                           excused=self.delay_reason is not None)  # fmt: skip
            changed = True
        return self._maybe_fine(fine, now, causation_id) or changed

    @applies(pe.PartOverdue)
    def _overdue(self, e: pe.PartOverdue) -> None:
        self.delay_days = e.delay_days

    def _maybe_fine(self, fine: Decision, now: dt.datetime, causation_id: str) -> bool:
        """FIN-PART-LATE: a decision about a person, with the facts that triggered it; once."""
        if self.fine_id is not None or not fine.outputs["fine"]:
            return False
        self._decision(
            pe.PartFineLevied, fine, now, causation_id, fine_id=str(uuid.uuid5(self.id, "FIN-PART-LATE")),
            person=fine.outputs["person"], role=fine.outputs["role"], department=department_of("engineer"),
            amount_fen=fine.outputs["amount_fen"],
            reason=f"old part {self.part_id} not handed in by {self.due_date} and no reason reported",
        )  # fmt: skip
        return True

    @applies(pe.PartFineLevied)
    def _fined(self, e: pe.PartFineLevied) -> None:
        self.fine_id = e.fine_id

    # ------------------------------------------------------------------ the way back to headquarters
    def hand_in(self, actor: Actor, delay: Decision, fine: Decision, at: dt.datetime, causation_id: str) -> None:
        """The engineer hands the old part in to the regional warehouse keeper (交旧件)."""
        self._require_open()
        self._require_responsible(actor)
        if self.handed_in:
            raise CommandRejected(f"part {self.part_id} was already handed in on {self.handed_in_on}")
        days = int(delay.outputs["delay_days"])
        self._trigger(pe.PartHandedIn, at, causation_id, actor=actor.id, handed_in_on=china_day(at), delay_days=days,
                      late=days > 0)  # fmt: skip
        self._maybe_fine(fine, at, causation_id)

    @applies(pe.PartHandedIn)
    def _handed_in(self, e: pe.PartHandedIn) -> None:
        self.handed_in_on, self.delay_days, self.status = e.handed_in_on, e.delay_days, "handed_in"

    def recover(self, actor: Actor, at: dt.datetime, causation_id: str) -> None:
        """The regional warehouse keeper receives the part (回收日期)."""
        self._require_open()
        if not self.handed_in:
            raise CommandRejected(f"part {self.part_id} has not been handed in by the engineer yet")
        if self.recovered_on is not None:
            raise CommandRejected(f"part {self.part_id} was already received on {self.recovered_on}")
        self._trigger(pe.PartRecovered, at, causation_id, actor=actor.id, recovered_on=china_day(at))

    @applies(pe.PartRecovered)
    def _recovered(self, e: pe.PartRecovered) -> None:
        self.recovered_on, self.status = e.recovered_on, "recovered"

    def ship(self, actor: Actor, waybill: str | None, at: dt.datetime, causation_id: str) -> None:
        """Shipped to headquarters (返司日期)."""
        self._require_open()
        if self.disposition != "return":
            raise CommandRejected(
                f"part {self.part_id} is not to return to headquarters (disposition {self.disposition or 'undecided'})"
            )
        if self.recovered_on is None:
            raise CommandRejected(f"part {self.part_id} has not been received by the warehouse keeper yet")
        if self.shipped_on is not None:
            raise CommandRejected(f"part {self.part_id} was already shipped on {self.shipped_on}")
        self._trigger(pe.PartShipped, at, causation_id, actor=actor.id, shipped_on=china_day(at), waybill=waybill)

    @applies(pe.PartShipped)
    def _shipped(self, e: pe.PartShipped) -> None:
        self.shipped_on, self.status = e.shipped_on, "shipped"

    def receive_at_hq(self, actor: Actor, at: dt.datetime, causation_id: str) -> None:
        """Received at headquarters (返司)."""
        self._require_open()
        if self.shipped_on is None:
            raise CommandRejected(f"part {self.part_id} has not been shipped to headquarters")
        self._trigger(pe.PartReturned, at, causation_id, actor=actor.id, received_on=china_day(at))

    @applies(pe.PartReturned)
    def _returned(self, e: pe.PartReturned) -> None:
        self.returned_on, self.status = e.received_on, "returned"
