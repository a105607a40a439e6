"""Parts' aggregates: the old part (旧件), the market price of a region's day, and the scrap ledger of
one spec and source (so that lots cannot be split under an approval threshold).

Pure: no I/O, no clock. Time and rule outcomes come in as values (`Decision`s computed by policy), and
every decision event records the rule id, policy version, inputs and outputs it carries.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, ClassVar, NoReturn
from zoneinfo import ZoneInfo

from eventsourcing.domain import Aggregate

from shared.events.decisions import Actor, Decision
from shared.security.duties import refuse_own

PART_NAMESPACE = uuid.UUID("3c1d0a5e-8f27-4e0b-9b61-5a2f4c7e9d13")
MARKET_NAMESPACE = uuid.UUID("a4e2b9c1-6d3f-4b8a-8e15-0c7d2f9a1b46")
LEDGER_NAMESPACE = uuid.UUID("c8f15d2a-1e6b-4a93-b7d4-2e9a6c0f3b58")


class CommandRejected(ValueError):
    """The command does not fit the part's state or the rules; nothing was recorded."""


def part_id_for(part_id: str) -> uuid.UUID:
    """One replaced part is one aggregate: the dispatch part id *is* its identity."""
    return uuid.uuid5(PART_NAMESPACE, part_id)


def market_price_id_for(region: str, day: dt.date) -> uuid.UUID:
    return uuid.uuid5(MARKET_NAMESPACE, f"{region}|{day.isoformat()}")


def ledger_id_for(material_code: str, source: str) -> uuid.UUID:
    return uuid.uuid5(LEDGER_NAMESPACE, f"{material_code.strip().upper()}|{source}")


CHINA = ZoneInfo("Asia/Shanghai")


def china_date(moment: dt.datetime) -> dt.date:
    return moment.astimezone(CHINA).date()


def start_of_day(day: dt.date) -> dt.datetime:
    """00:00 Asia/Shanghai of `day`: when a calendar day counts as begun."""
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=CHINA)


def _day(moment: dt.datetime) -> str:
    return china_date(moment).isoformat()


def is_blank(value: object) -> bool:
    """A record field that says nothing: absent, or an empty or whitespace-only text."""
    return value is None or (isinstance(value, str) and not value.strip())


DEPARTMENT_OF = {"engineer": "after_sales_service", "warehouse_keeper": "warehouse", "old_parts_officer": "old_parts"}


class OldPart(Aggregate):
    """One replaced part from its record (PRT-RECORD) to its return, sale or disposal."""

    class Event(Aggregate.Event):
        correlation_id: str
        causation_id: str

    class DecisionEvent(Event):
        rule: str
        policy_version: str
        inputs: dict[str, Any]
        outputs: dict[str, Any]

    # ------------------------------------------------------------------ PRT-RECORD + PRT-DUE-7D
    class Recorded(Aggregate.Created):
        """A replaced part recorded with every PRT-RECORD field; the due date decided (PRT-DUE-7D)."""

        wire_type: ClassVar[str] = "PartRecorded"
        part_id: str
        complaint_no: str
        dispatch_id: str | None
        record: dict[str, Any]
        recorded_by: str
        rule: str
        policy_version: str
        inputs: dict[str, Any]
        outputs: dict[str, Any]
        correlation_id: str
        causation_id: str

    def __init__(
        self,
        part_id: str,
        complaint_no: str,
        dispatch_id: str | None,
        record: dict[str, Any],
        recorded_by: str,
        rule: str,
        policy_version: str,
        inputs: dict[str, Any],
        outputs: dict[str, Any],
        correlation_id: str,
        causation_id: str,
    ) -> None:
        self.part_id = part_id
        self.complaint_no = complaint_no
        self.dispatch_id = dispatch_id
        self.record = record
        self.due_date: str = outputs["due_date"]
        self.status = "awaiting_hand_in"
        self.delay_days = 0
        self.delay_reason: str | None = None
        self.fine_id: str | None = None
        self.handed_in_on: str | None = None
        self.recovered_on: str | None = None
        self.shipped_on: str | None = None
        self.returned_on: str | None = None
        self.disposition: str | None = "return" if record.get("return_to_hq") else None
        self.sale: dict[str, Any] | None = None
        self.disposal: dict[str, Any] | None = None
        self.responsibility: dict[str, Any] | None = None
        self.claim: dict[str, Any] | None = None
        self.escalations: list[str] = []
        self.record_missing: list[str] = []  # PRT-RECORD fields the record lacks (parts-2026.2)

    @classmethod
    def record_part(
        cls,
        *,
        part_id: str,
        complaint_no: str,
        dispatch_id: str | None,
        record: dict[str, Any],
        recorded_by: str,
        due: Decision,
        at: dt.datetime,
        causation_id: str,
    ) -> OldPart:
        return cls._create(
            cls.Recorded,
            id=part_id_for(part_id),
            timestamp=at,
            part_id=part_id,
            complaint_no=complaint_no,
            dispatch_id=dispatch_id,
            record=record,
            recorded_by=recorded_by,
            correlation_id=complaint_no,
            causation_id=causation_id,
            **due.as_record(),
        )

    # ------------------------------------------------------------------ PRT-RECORD enforced (parts-2026.2)
    class RecordIncomplete(DecisionEvent):
        """PRT-RECORD: the part came (from dispatch) without some fields of its record; they are named, and
        a sale waits for those in `outputs.sale_blocked_by` until someone completes the record."""

        wire_type: ClassVar[str] = "PartRecordIncomplete"
        missing: list[str]

        def apply(self, aggregate: OldPart) -> None:
            aggregate.record_missing = list(self.missing)

    def flag_incomplete(self, check: Decision, at: dt.datetime, causation_id: str) -> None:
        if not check.outputs["complete"]:
            self._decision(self.RecordIncomplete, check, at, causation_id, missing=check.outputs["missing"])

    class RecordCompleted(DecisionEvent):
        """PRT-RECORD: missing fields of the record filled in; `missing` is what is still lacking."""

        wire_type: ClassVar[str] = "PartRecordCompleted"
        actor: str
        role: str
        fields: dict[str, Any]
        missing: list[str]

        def apply(self, aggregate: OldPart) -> None:
            aggregate.record = {**aggregate.record, **self.fields}
            aggregate.record_missing = list(self.missing)

    def complete_record(
        self, actor: Actor, fields: dict[str, str], check: Decision, at: dt.datetime, causation_id: str
    ) -> None:
        """Fill in fields the record lacks (only those: a recorded value is not overwritten)."""
        if not fields:
            raise CommandRejected("PRT-RECORD: nothing to complete; give at least one missing field")
        blank = [name for name, value in fields.items() if is_blank(value)]
        if blank:
            raise CommandRejected(f"PRT-RECORD: {', '.join(blank)} cannot be completed with a blank value")
        recorded = {name: self.record.get(name) for name in fields if not is_blank(self.record.get(name))}
        if recorded:
            raise CommandRejected(
                f"PRT-RECORD: part {self.part_id} has "
                + ", ".join(f"{name} {value!r}" for name, value in recorded.items())
                + " recorded already; only missing fields can be completed"
            )
        self._decision(self.RecordCompleted, check, at, causation_id, actor=actor.id, role=actor.role,
                       fields=fields, missing=check.outputs["missing"])  # fmt: skip

    def require_record_for_sale(self, check: Decision) -> None:
        """A sale waits for the record fields the policy names (the region: PRT-REMOTE depends on it)."""
        blocked = check.outputs.get("sale_blocked_by") or []
        if blocked:
            raise CommandRejected(
                f"PRT-RECORD: part {self.part_id} cannot be sold while its record lacks the {', '.join(blocked)} "
                "(the price floor and the remote-region reduction PRT-REMOTE depend on the region); "
                "the warehouse keeper or the old-parts officer completes the record first (complete_record)"
            )

    def _trigger(self, event_class: type[Aggregate.Event], at: dt.datetime, causation_id: str, **fields: Any) -> None:
        self.trigger_event(
            event_class, timestamp=at, correlation_id=self.complaint_no, causation_id=causation_id, **fields
        )

    def _decision(
        self, event_class: type[DecisionEvent], decision: Decision, at: dt.datetime, causation_id: str, **fields: Any
    ) -> None:
        self._trigger(event_class, at, causation_id, **decision.as_record(), **fields)

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
    class DelayReported(Event):
        """The engineer expects a late hand-in and gives the reason (PRT-DUE-7D); before the fine,
        this excuses FIN-PART-LATE."""

        wire_type: ClassVar[str] = "PartHandInDelayReported"
        actor: str
        reason: str
        expected_on: str | None
        excuses_fine: bool

        def apply(self, aggregate: OldPart) -> None:
            aggregate.delay_reason = self.reason

    def _require_responsible(self, actor: Actor) -> None:
        """An engineer acts only on the parts they replaced (a delay reason excuses a fine)."""
        responsible = self.record.get("responsible_engineer")
        if actor.role == "engineer" and responsible and actor.id != responsible:
            raise CommandRejected(f"part {self.part_id} is {responsible}'s; {actor.id} may not act on it")

    def report_delay(
        self, actor: Actor, reason: str, expected_on: dt.date | None, at: dt.datetime, causation_id: str
    ) -> None:
        self._require_responsible(actor)
        if self.handed_in:
            raise CommandRejected(f"part {self.part_id} was already handed in on {self.handed_in_on}")
        self._trigger(
            self.DelayReported,
            at,
            causation_id,
            actor=actor.id,
            reason=reason,
            expected_on=None if expected_on is None else expected_on.isoformat(),
            excuses_fine=self.fine_id is None,
        )

    class Overdue(DecisionEvent):
        """The clock passed the due date and the part is not handed in: its delay days (PRT-DUE-7D)."""

        wire_type: ClassVar[str] = "PartOverdue"
        delay_days: int
        excused: bool

        def apply(self, aggregate: OldPart) -> None:
            aggregate.delay_days = self.delay_days

    class FineLevied(DecisionEvent):
        """FIN-PART-LATE: a decision about a person, with the facts that triggered it."""

        wire_type: ClassVar[str] = "PartFineLevied"
        fine_id: str
        person: str | None
        role: str
        department: str
        amount_fen: int
        reason: str

        def apply(self, aggregate: OldPart) -> None:
            aggregate.fine_id = self.fine_id

    def check_overdue(self, delay: Decision, fine: Decision, now: dt.datetime, causation_id: str) -> bool:
        """The clock's daily look at an unreturned part: record grown delay days, and the fine once."""
        if self.handed_in or self.closed:
            return False
        changed = False
        days = int(delay.outputs["delay_days"])
        if days > self.delay_days:
            self._decision(
                self.Overdue, delay, now, causation_id, delay_days=days, excused=self.delay_reason is not None
            )
            changed = True
        return self._maybe_fine(fine, now, causation_id) or changed

    def _maybe_fine(self, fine: Decision, now: dt.datetime, causation_id: str) -> bool:
        if self.fine_id is not None or not fine.outputs["fine"]:
            return False
        self._decision(
            self.FineLevied,
            fine,
            now,
            causation_id,
            fine_id=str(uuid.uuid5(self.id, "FIN-PART-LATE")),
            person=fine.outputs["person"],
            role=fine.outputs["role"],
            department=DEPARTMENT_OF["engineer"],
            amount_fen=fine.outputs["amount_fen"],
            reason=f"old part {self.part_id} not handed in by {self.due_date} and no reason reported",
        )
        return True

    # ------------------------------------------------------------------ the way back to headquarters
    class HandedIn(Event):
        """The engineer handed the old part in to the regional warehouse keeper (交旧件)."""

        wire_type: ClassVar[str] = "PartHandedIn"
        actor: str
        handed_in_on: str
        delay_days: int
        late: bool

        def apply(self, aggregate: OldPart) -> None:
            aggregate.handed_in_on = self.handed_in_on
            aggregate.delay_days = self.delay_days
            aggregate.status = "handed_in"

    def hand_in(self, actor: Actor, delay: Decision, fine: Decision, at: dt.datetime, causation_id: str) -> None:
        self._require_open()
        self._require_responsible(actor)
        if self.handed_in:
            raise CommandRejected(f"part {self.part_id} was already handed in on {self.handed_in_on}")
        days = int(delay.outputs["delay_days"])
        self._trigger(
            self.HandedIn, at, causation_id, actor=actor.id, handed_in_on=_day(at), delay_days=days, late=days > 0
        )
        self._maybe_fine(fine, at, causation_id)

    class Recovered(Event):
        """The regional warehouse keeper received the part (回收日期)."""

        wire_type: ClassVar[str] = "PartRecovered"
        actor: str
        recovered_on: str

        def apply(self, aggregate: OldPart) -> None:
            aggregate.recovered_on = self.recovered_on
            aggregate.status = "recovered"

    def recover(self, actor: Actor, at: dt.datetime, causation_id: str) -> None:
        self._require_open()
        if not self.handed_in:
            raise CommandRejected(f"part {self.part_id} has not been handed in by the engineer yet")
        if self.recovered_on is not None:
            raise CommandRejected(f"part {self.part_id} was already received on {self.recovered_on}")
        self._trigger(self.Recovered, at, causation_id, actor=actor.id, recovered_on=_day(at))

    class Shipped(Event):
        """Shipped to headquarters (返司日期)."""

        wire_type: ClassVar[str] = "PartShipped"
        actor: str
        shipped_on: str
        waybill: str | None

        def apply(self, aggregate: OldPart) -> None:
            aggregate.shipped_on = self.shipped_on
            aggregate.status = "shipped"

    def ship(self, actor: Actor, waybill: str | None, at: dt.datetime, causation_id: str) -> None:
        self._require_open()
        if self.disposition != "return":
            raise CommandRejected(
                f"part {self.part_id} is not to return to headquarters (disposition {self.disposition or 'undecided'})"
            )
        if self.recovered_on is None:
            raise CommandRejected(f"part {self.part_id} has not been received by the warehouse keeper yet")
        if self.shipped_on is not None:
            raise CommandRejected(f"part {self.part_id} was already shipped on {self.shipped_on}")
        self._trigger(self.Shipped, at, causation_id, actor=actor.id, shipped_on=_day(at), waybill=waybill)

    class Returned(Event):
        """Received at headquarters (返司)."""

        wire_type: ClassVar[str] = "PartReturned"
        actor: str
        received_on: str

        def apply(self, aggregate: OldPart) -> None:
            aggregate.returned_on = self.received_on
            aggregate.status = "returned"

    def receive_at_hq(self, actor: Actor, at: dt.datetime, causation_id: str) -> None:
        self._require_open()
        if self.shipped_on is None:
            raise CommandRejected(f"part {self.part_id} has not been shipped to headquarters")
        self._trigger(self.Returned, at, causation_id, actor=actor.id, received_on=_day(at))

    # ------------------------------------------------------------------ disposition (PRT-DISPOSITION)
    class DispositionDecided(DecisionEvent):
        wire_type: ClassVar[str] = "DispositionDecided"
        actor: str
        disposition: str

        def apply(self, aggregate: OldPart) -> None:
            aggregate.disposition = self.disposition

    def decide_disposition(self, actor: Actor, decision: Decision, at: dt.datetime, causation_id: str) -> None:
        self._require_open()
        if self.shipped_on is not None or self.sale is not None or self.disposal is not None:
            raise CommandRejected(f"part {self.part_id} is already being returned, sold or disposed of")
        if not decision.outputs["accepted"]:
            raise CommandRejected(
                f"PRT-DISPOSITION: {decision.outputs['disposition']} does not fit the facts; "
                f"allowed: {', '.join(decision.outputs['allowed'])}"
            )
        self._decision(
            self.DispositionDecided,
            decision,
            at,
            causation_id,
            actor=actor.id,
            disposition=decision.outputs["disposition"],
        )

    # ------------------------------------------------------------------ local sale (PRT-PRICE-FLOOR)
    class SaleReported(DecisionEvent):
        """A sale report (旧件变卖申请单): buyer quotes, price, and the floor decided from the market."""

        wire_type: ClassVar[str] = "SaleReported"
        actor: str
        buyer: str
        price_fen: int
        quotes: list[dict[str, Any]]
        reason: str | None

        def apply(self, aggregate: OldPart) -> None:
            aggregate.sale = {
                "buyer": self.buyer,
                "price_fen": self.price_fen,
                "quotes": self.quotes,
                "reason": self.reason,
                "floor": self.outputs,
                "inputs": self.inputs,
                "policy_version": self.policy_version,
                "verified_by": None,
                "approved_by": None,
                "reported_by": self.actor,
            }

    def report_sale(
        self,
        actor: Actor,
        buyer: str,
        price_fen: int,
        quotes: list[dict[str, Any]],
        reason: str | None,
        floor: Decision,
        at: dt.datetime,
        causation_id: str,
    ) -> None:
        self._require_open()
        self.require_record_for_sale(floor)
        if self.disposition != "sell_local":
            raise CommandRejected(
                f"part {self.part_id} is not to be sold locally (disposition "
                f"{self.disposition or 'undecided'}); decide the disposition first"
            )
        out = floor.outputs
        if not out["quotes_ok"]:
            raise CommandRejected(
                f"PRT-PRICE-FLOOR: a sale needs at least {out['min_quotes']} buyer quotes "
                f"(name, contact, price); got {len(quotes)}"
            )
        if not out["remote"]["allowed"]:
            raise CommandRejected(
                f"PRT-REMOTE: a reduction of {out['remote']['reduction']} is not allowed in "
                f"{floor.inputs['region']} (remote regions only, 0.05–0.10)"
            )
        if out["below_floor"] and not (reason or "").strip():
            raise CommandRejected(
                f"PRT-PRICE-FLOOR: {price_fen} fen is below the floor of {out['floor_fen']} fen; "
                "a written reason is required"
            )
        self._decision(
            self.SaleReported,
            floor,
            at,
            causation_id,
            actor=actor.id,
            buyer=buyer,
            price_fen=price_fen,
            quotes=quotes,
            reason=reason,
        )

    class SaleVerified(Event):
        """The old-parts officer verified the sale report and its quotes."""

        wire_type: ClassVar[str] = "SaleVerified"
        actor: str

        def apply(self, aggregate: OldPart) -> None:
            if aggregate.sale is not None:
                aggregate.sale["verified_by"] = self.actor

    class SaleApproved(Event):
        """The general manager approved a sale below the floor."""

        wire_type: ClassVar[str] = "SaleApproved"
        actor: str

        def apply(self, aggregate: OldPart) -> None:
            if aggregate.sale is not None:
                aggregate.sale["approved_by"] = self.actor

    def _pending_sale(self) -> dict[str, Any]:
        self._require_open()
        if self.sale is None:
            raise CommandRejected(f"part {self.part_id} has no sale report")
        return self.sale

    def verify_sale(self, actor: Actor, at: dt.datetime, causation_id: str) -> None:
        sale = self._pending_sale()
        refuse_own("SOD-OWN-SALE", actor.id, "verify their own sale report", sale.get("reported_by"))
        self._trigger(self.SaleVerified, at, causation_id, actor=actor.id)

    def approve_sale(self, actor: Actor, at: dt.datetime, causation_id: str) -> None:
        sale = self._pending_sale()
        refuse_own("SOD-OWN-SALE", actor.id, "approve their own sale report", sale.get("reported_by"))
        self._trigger(self.SaleApproved, at, causation_id, actor=actor.id)

    class Sold(DecisionEvent):
        """PRT-PRICE-FLOOR: the part was sold; names its floor (outputs), its quotes and its rule; the
        proceeds go to finance only (PRT-SCRAP-APPROVAL)."""

        wire_type: ClassVar[str] = "PartSold"
        actor: str
        buyer: str
        price_fen: int
        proceeds_fen: int
        floor_fen: int
        below_floor: bool
        quotes: list[dict[str, Any]]
        reason: str | None
        verified_by: str | None
        approved_by: str | None
        payable_to: str

        def apply(self, aggregate: OldPart) -> None:
            aggregate.status = "sold"

    def record_sale(self, actor: Actor, record_check: Decision, at: dt.datetime, causation_id: str) -> None:
        sale = self._pending_sale()
        self.require_record_for_sale(record_check)
        floor = sale["floor"]
        if floor["below_floor"] and (sale["verified_by"] is None or sale["approved_by"] is None):
            missing = [
                who
                for who, key in (
                    ("the old-parts officer's verification", "verified_by"),
                    ("the general manager's approval", "approved_by"),
                )
                if sale[key] is None
            ]
            raise CommandRejected(
                f"PRT-PRICE-FLOOR: {sale['price_fen']} fen is below the floor of "
                f"{floor['floor_fen']} fen and needs {' and '.join(missing)}"
            )
        decision = Decision("PRT-PRICE-FLOOR", sale["policy_version"], sale["inputs"], floor)
        self._decision(
            self.Sold,
            decision,
            at,
            causation_id,
            actor=actor.id,
            buyer=sale["buyer"],
            price_fen=sale["price_fen"],
            proceeds_fen=sale["price_fen"],
            floor_fen=floor["floor_fen"],
            below_floor=floor["below_floor"],
            quotes=sale["quotes"],
            reason=sale["reason"],
            verified_by=sale["verified_by"],
            approved_by=sale["approved_by"],
            payable_to="finance",
        )

    # ------------------------------------------------------------------ destroy / give away (PRT-SCRAP-APPROVAL)
    class DisposalRequested(DecisionEvent):
        wire_type: ClassVar[str] = "DisposalRequested"
        actor: str
        disposition: str
        original_value_fen: int

        def apply(self, aggregate: OldPart) -> None:
            aggregate.disposal = {
                "disposition": self.disposition,
                "level": self.outputs["level"],
                "total_fen": self.outputs["total_fen"],
                "approvers": self.outputs["approvers"],
                "approved_by": None,
                "requested_on": _day(self.timestamp),
                # the ledger its lot went into, even if the record is completed later
                "ledger": [aggregate.record.get("material_code") or "", aggregate.record.get("region") or ""],
            }

    def request_disposal(self, actor: Actor, approval: Decision, at: dt.datetime, causation_id: str) -> None:
        self._require_open()
        if self.disposition not in ("destroy_local", "give_away"):
            raise CommandRejected(
                f"part {self.part_id} is not to be destroyed or given away (disposition "
                f"{self.disposition or 'undecided'})"
            )
        if self.disposal is not None:
            raise CommandRejected(f"part {self.part_id} has a disposal request already")
        self._decision(
            self.DisposalRequested,
            approval,
            at,
            causation_id,
            actor=actor.id,
            disposition=self.disposition,
            original_value_fen=int(approval.inputs["lot"]["original_value_fen"]),
        )

    class DisposalApproved(DecisionEvent):
        """Approved at the level the whole window's lots need (re-decided at approval: no splitting)."""

        wire_type: ClassVar[str] = "DisposalApproved"
        actor: str
        role: str

        def apply(self, aggregate: OldPart) -> None:
            if aggregate.disposal is not None:
                out = self.outputs
                aggregate.disposal.update(approved_by=self.actor, level=out["level"], total_fen=out["total_fen"],
                                          approvers=out["approvers"])  # fmt: skip

    def approve_disposal(self, actor: Actor, approval: Decision, at: dt.datetime, causation_id: str) -> None:
        self._require_open()
        if self.disposal is None:
            raise CommandRejected(f"part {self.part_id} has no disposal request")
        if self.disposal["approved_by"] is not None:
            raise CommandRejected(f"part {self.part_id}'s disposal was already approved")
        self._decision(self.DisposalApproved, approval, at, causation_id, actor=actor.id, role=actor.role)

    class DisposalRelevelled(DecisionEvent):
        """PRT-SCRAP-APPROVAL (parts-2026.2): lots of the same spec and source requested since raised the
        window's sum past a threshold; the disposal now needs the higher level, and an approval given below
        it (`superseded_approval`) no longer carries it."""

        wire_type: ClassVar[str] = "DisposalRelevelled"
        level_before: str
        superseded_approval: str | None

        def apply(self, aggregate: OldPart) -> None:
            if aggregate.disposal is not None:
                aggregate.disposal.update(level=self.outputs["level"], total_fen=self.outputs["total_fen"],
                                          approvers=self.outputs["approvers"], approved_by=None)  # fmt: skip
                if self.superseded_approval is not None:
                    aggregate.disposal["superseded"] = {"by": self.superseded_approval, "level": self.level_before}

    def relevel_disposal(self, decision: Decision, at: dt.datetime, causation_id: str) -> bool:
        """Raise a requested or approved, not yet carried out, disposal to the level the window now needs."""
        if self.disposal is None or self.closed or not decision.outputs.get("raised"):
            return False
        self._decision(self.DisposalRelevelled, decision, at, causation_id, level_before=self.disposal["level"],
                       superseded_approval=self.disposal["approved_by"])  # fmt: skip
        return True

    def _refuse_unapproved_disposal(self) -> NoReturn:
        d = self.disposal
        if d is None:
            raise CommandRejected(f"PRT-SCRAP-APPROVAL: part {self.part_id} has no disposal request")
        superseded = d.get("superseded")
        if superseded is not None:
            raise CommandRejected(
                f"PRT-SCRAP-APPROVAL: part {self.part_id}'s disposal was approved at {superseded['level']} level "
                f"by {superseded['by']}, but lots of the same spec now total {d['total_fen']} fen and need "
                f"{d['level']} approval ({', '.join(d['approvers'])})"
            )
        raise CommandRejected(
            f"PRT-SCRAP-APPROVAL: part {self.part_id}'s disposal is not approved; it needs {d['level']} approval "
            f"({', '.join(d['approvers'])})"
        )

    class Disposed(Event):
        wire_type: ClassVar[str] = "PartDisposed"
        actor: str
        disposition: str
        recipient: str | None
        disposed_on: str

        def apply(self, aggregate: OldPart) -> None:
            aggregate.status = "disposed"

    def dispose(self, actor: Actor, recipient: str | None, at: dt.datetime, causation_id: str) -> None:
        self._require_open()
        if self.disposal is None or self.disposal["approved_by"] is None:
            self._refuse_unapproved_disposal()
        if self.disposal["disposition"] == "give_away" and not (recipient or "").strip():
            raise CommandRejected("a give-away names its recipient")
        self._trigger(
            self.Disposed,
            at,
            causation_id,
            actor=actor.id,
            disposition=self.disposal["disposition"],
            recipient=recipient,
            disposed_on=_day(at),
        )

    # ------------------------------------------------------------------ responsibility (PRT-RESPONSIBILITY)
    class ReviewStarted(DecisionEvent):
        wire_type: ClassVar[str] = "ResponsibilityReviewStarted"
        actor: str
        part_class: str
        review_date: str

        def apply(self, aggregate: OldPart) -> None:
            aggregate.responsibility = {
                "part_class": self.part_class,
                "review_date": self.review_date,
                "due_date": self.outputs["due_date"],
                "settled": None,
            }

    def start_review(self, actor: Actor, deadline: Decision, at: dt.datetime, causation_id: str) -> None:
        if self.responsibility is not None:
            raise CommandRejected(
                f"part {self.part_id}'s responsibility review began on {self.responsibility['review_date']}"
            )
        self._decision(
            self.ReviewStarted,
            deadline,
            at,
            causation_id,
            actor=actor.id,
            part_class=deadline.inputs["part_class"],
            review_date=deadline.inputs["review_date"],
        )

    class Escalated(Event):
        wire_type: ClassVar[str] = "ResponsibilityEscalated"
        escalation_id: str
        trigger_rule: str
        to: str
        reason: str

        def apply(self, aggregate: OldPart) -> None:
            aggregate.escalations.append(self.escalation_id)

    def escalate_responsibility(self, to: str, now: dt.datetime, causation_id: str) -> bool:
        """The clock passed the responsibility deadline with nothing settled: escalate, once."""
        r = self.responsibility
        if r is None or r["settled"] is not None or now < _start_after(r["due_date"]):
            return False
        escalation_id = str(uuid.uuid5(self.id, f"PRT-RESPONSIBILITY:{r['review_date']}"))
        if escalation_id in self.escalations:
            return False
        self._trigger(
            self.Escalated,
            now,
            causation_id,
            escalation_id=escalation_id,
            trigger_rule="PRT-RESPONSIBILITY",
            to=to,
            reason=f"responsibility for part {self.part_id} not settled by {r['due_date']}",
        )
        return True

    class ResponsibilitySettled(Event):
        """The outcome attributes the cost to a department or to a supplier."""

        wire_type: ClassVar[str] = "ResponsibilitySettled"
        actor: str
        attributed_to: str
        party: str
        cost_fen: int
        settled_on: str
        late: bool

        def apply(self, aggregate: OldPart) -> None:
            if aggregate.responsibility is not None:
                aggregate.responsibility["settled"] = self.settled_on

    class SupplierClaimOpened(DecisionEvent):
        """PRT-SUPPLIER-CLAIM: a bought-in part that failed is claimed back from its supplier."""

        wire_type: ClassVar[str] = "SupplierClaimOpened"
        claim_id: str
        supplier: str
        amount_fen: int

        def apply(self, aggregate: OldPart) -> None:
            aggregate.claim = {
                "claim_id": self.claim_id,
                "supplier": self.supplier,
                "amount_fen": self.amount_fen,
                "settled": False,
            }

    def settle_responsibility(
        self,
        actor: Actor,
        attributed_to: str,
        party: str,
        cost_fen: int,
        claim: Decision,
        at: dt.datetime,
        causation_id: str,
    ) -> None:
        r = self.responsibility
        if r is None:
            raise CommandRejected(f"part {self.part_id} has no responsibility review; start one first")
        if r["settled"] is not None:
            raise CommandRejected(f"part {self.part_id}'s responsibility was settled on {r['settled']}")
        on = _day(at)
        self._trigger(
            self.ResponsibilitySettled,
            at,
            causation_id,
            actor=actor.id,
            attributed_to=attributed_to,
            party=party,
            cost_fen=cost_fen,
            settled_on=on,
            late=on > r["due_date"],
        )
        if claim.outputs["claim"]:
            self._decision(
                self.SupplierClaimOpened,
                claim,
                at,
                causation_id,
                claim_id=str(uuid.uuid5(self.id, "PRT-SUPPLIER-CLAIM")),
                supplier=claim.outputs["supplier"],
                amount_fen=claim.outputs["amount_fen"],
            )

    class SupplierClaimSettled(Event):
        wire_type: ClassVar[str] = "SupplierClaimSettled"
        actor: str
        claim_id: str
        recovered_fen: int
        settled_on: str

        def apply(self, aggregate: OldPart) -> None:
            if aggregate.claim is not None:
                aggregate.claim["settled"] = True

    def settle_claim(self, actor: Actor, recovered_fen: int, at: dt.datetime, causation_id: str) -> None:
        if self.claim is None:
            raise CommandRejected(f"part {self.part_id} has no supplier claim")
        if self.claim["settled"]:
            raise CommandRejected(f"part {self.part_id}'s supplier claim is settled already")
        self._trigger(
            self.SupplierClaimSettled,
            at,
            causation_id,
            actor=actor.id,
            claim_id=self.claim["claim_id"],
            recovered_fen=recovered_fen,
            settled_on=_day(at),
        )


def _start_after(day: str) -> dt.datetime:
    return start_of_day(dt.date.fromisoformat(day) + dt.timedelta(days=1))


class MarketPrice(Aggregate):
    """The scrap-metal market price of one region and day (PRT-PRICE-FLOOR), per ton."""

    class Recorded(Aggregate.Created):
        wire_type: ClassVar[str] = "MarketPriceRecorded"
        region: str
        day: str
        price_per_ton_fen: int
        source: str | None
        actor: str
        correlation_id: str
        causation_id: str

    def __init__(
        self,
        region: str,
        day: str,
        price_per_ton_fen: int,
        source: str | None,
        actor: str,
        correlation_id: str,
        causation_id: str,
    ) -> None:
        self.region = region
        self.day = day
        self.price_per_ton_fen = price_per_ton_fen

    class Revised(Aggregate.Event):
        wire_type: ClassVar[str] = "MarketPriceRevised"
        region: str
        day: str
        price_per_ton_fen: int
        source: str | None
        actor: str
        correlation_id: str
        causation_id: str

        def apply(self, aggregate: MarketPrice) -> None:
            aggregate.price_per_ton_fen = self.price_per_ton_fen

    @classmethod
    def record(
        cls,
        region: str,
        day: dt.date,
        price_per_ton_fen: int,
        source: str | None,
        actor: Actor,
        at: dt.datetime,
        causation_id: str,
    ) -> MarketPrice:
        return cls._create(
            cls.Recorded,
            id=market_price_id_for(region, day),
            timestamp=at,
            region=region,
            day=day.isoformat(),
            price_per_ton_fen=price_per_ton_fen,
            source=source,
            actor=actor.id,
            correlation_id=f"market-price:{region}:{day.isoformat()}",
            causation_id=causation_id,
        )

    def revise(
        self, price_per_ton_fen: int, source: str | None, actor: Actor, at: dt.datetime, causation_id: str
    ) -> None:
        self.trigger_event(
            self.Revised,
            timestamp=at,
            region=self.region,
            day=self.day,
            price_per_ton_fen=price_per_ton_fen,
            source=source,
            actor=actor.id,
            correlation_id=f"market-price:{self.region}:{self.day}",
            causation_id=causation_id,
        )


class ScrapLedger(Aggregate):
    """Every disposal lot of one spec (material code) from one source (region): what PRT-SCRAP-APPROVAL
    sums so that a lot cannot be split under a threshold. Saved with the part, so two requests at once
    cannot both miss each other."""

    class Opened(Aggregate.Created):
        wire_type: ClassVar[str] = "ScrapLedgerOpened"
        material_code: str
        source: str
        correlation_id: str
        causation_id: str

    def __init__(self, material_code: str, source: str, correlation_id: str, causation_id: str) -> None:
        self.material_code = material_code
        self.source = source
        self.lots: list[dict[str, Any]] = []

    class LotAdded(Aggregate.Event):
        wire_type: ClassVar[str] = "ScrapLotAdded"
        lot: dict[str, Any]
        correlation_id: str
        causation_id: str

        def apply(self, aggregate: ScrapLedger) -> None:
            aggregate.lots.append(self.lot)

    @classmethod
    def open(
        cls, material_code: str, source: str, at: dt.datetime, complaint_no: str, causation_id: str
    ) -> ScrapLedger:
        return cls._create(
            cls.Opened,
            id=ledger_id_for(material_code, source),
            timestamp=at,
            material_code=material_code,
            source=source,
            correlation_id=complaint_no,
            causation_id=causation_id,
        )

    def add(self, lot: dict[str, Any], at: dt.datetime, complaint_no: str, causation_id: str) -> None:
        self.trigger_event(self.LotAdded, timestamp=at, lot=lot, correlation_id=complaint_no, causation_id=causation_id)
