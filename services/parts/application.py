"""Old-parts application service: load → decide → save, one method per command. No NATS, no HTTP.

Time always comes in as a value: the upstream event's own timestamp, or the service clock's `now`
for a staff command or a tick. Rules are evaluated by `policy`, their decisions handed to the aggregates.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
from eventsourcing.persistence import IntegrityError, Tracking

from services.parts.domain import (
    CommandRejected,
    MarketPrice,
    OldPart,
    ScrapLedger,
    china_date,
    ledger_id_for,
    market_price_id_for,
    part_id_for,
)
from services.parts.policy import RECORD_FIELDS, PartsPolicy, current_policy, decide
from shared.domain.aggregate import EventSourced
from shared.events import commands as cmd
from shared.events import parts_events as pe
from shared.events.base import DomainEvent
from shared.events.catalog import payload
from shared.events.decisions import Actor, Decision
from shared.events.dispatch_events import PartsReplaced, ReplacedPart
from shared.events.envelope import Envelope
from shared.runtime.store import PostgresStore, StoredApplication, Timer, recorder_of
from shared.runtime.timers import fire_due_timers

# Who may do what (docs/rules.md §7).
PERMISSIONS: dict[type[cmd.PartsCommand], frozenset[str]] = {
    cmd.RecordPart: frozenset({"engineer", "tq"}),
    cmd.RecordMarketPrice: frozenset({"old_parts_officer"}),
    # PRT-RECORD: the regional warehouse keeper holds the part (and its label), the old-parts officer keeps the report.
    cmd.CompletePartRecord: frozenset({"warehouse_keeper", "old_parts_officer"}),
    cmd.ReportHandInDelay: frozenset({"engineer"}),
    cmd.HandInPart: frozenset({"engineer"}),
    cmd.RecoverPart: frozenset({"warehouse_keeper"}),
    cmd.ShipPart: frozenset({"warehouse_keeper"}),
    cmd.ReceivePartAtHq: frozenset({"warehouse_keeper", "old_parts_officer"}),
    cmd.DecideDisposition: frozenset({"old_parts_officer", "tq"}),
    cmd.ReportSale: frozenset({"engineer", "warehouse_keeper", "old_parts_officer"}),
    cmd.VerifySale: frozenset({"old_parts_officer"}),
    cmd.ApproveSale: frozenset({"gm"}),
    cmd.RecordSale: frozenset({"old_parts_officer", "warehouse_keeper"}),
    cmd.RequestDisposal: frozenset({"engineer", "warehouse_keeper", "old_parts_officer"}),
    cmd.ApproveDisposal: frozenset({"branch_manager", "old_parts_officer", "gm"}),
    cmd.RecordDisposal: frozenset({"engineer", "warehouse_keeper"}),
    cmd.StartResponsibilityReview: frozenset({"tq"}),
    cmd.SettleResponsibility: frozenset({"tq"}),
    cmd.SettleSupplierClaim: frozenset({"finance"}),
}


class UnknownPart(LookupError):
    pass


class Forbidden(PermissionError):
    pass


def _iso(day: dt.date) -> str:
    return day.isoformat()


class PartsApplication(StoredApplication):
    name = "parts"

    def __init__(self, store: PostgresStore) -> None:
        super().__init__(store)
        self.policy: PartsPolicy = current_policy()

    # ---------------------------------------------------------------------------- saving

    def _save(self, aggregates: Sequence[EventSourced], **kwargs: Any) -> list[str]:
        """Save aggregates with the timers their new events schedule, in one transaction."""
        events: list[DomainEvent] = [e for a in aggregates for e in a.collect_events()]  # type: ignore[misc]
        self.save(*events, timers=list(_timers_for(events)), **kwargs)
        return [type(e).wire_type for e in events]

    def part(self, part_id: str) -> OldPart:
        aggregate_id = part_id_for(part_id)
        if not recorder_of(self).existing_aggregates([aggregate_id]):
            raise UnknownPart(f"no old part {part_id}")
        part: OldPart = self.repository.get(aggregate_id)
        return part

    # ------------------------------------------------------------------- recording (PRT-RECORD)

    def _new_part(
        self, part_id: str, complaint_no: str, dispatch_id: str | None, record: pe.PartRecord, recorded_by: str,
        at: dt.datetime, causation_id: str,
    ) -> OldPart:  # fmt: skip
        due = decide("PRT-DUE-7D", {"completed_on": record.completed_on}, self.policy)
        part = OldPart.record_part(part_id=part_id, complaint_no=complaint_no, dispatch_id=dispatch_id, record=record,
                                   recorded_by=recorded_by, due=due, at=at, causation_id=causation_id)  # fmt: skip
        if self.policy.record_enforced:
            part.flag_incomplete(self._record_check(record), at, causation_id)
        return part

    def _record_check(self, record: pe.PartRecord) -> Decision:
        """PRT-RECORD on the record as it stands (the fields of 004 附件三)."""
        return decide("PRT-RECORD", {name: getattr(record, name) for name in RECORD_FIELDS}, self.policy)

    def on_upstream(self, upstream: str, envelopes: Sequence[Envelope], tracking: str | None = None) -> int:
        """Consume dispatch's events exactly once: each envelope past the tracked position is saved
        with `position=Tracking(tracking, envelope.position)` (`tracking`: a partition's name, default
        `upstream`); return how many recorded something."""
        changed = 0
        tracking = tracking or upstream
        tracked = recorder_of(self).tracked(tracking, upstream)
        seen = tracked
        for envelope in envelopes:
            if envelope.position <= seen:
                continue
            seen = envelope.position
            if envelope.type != "PartsReplaced":
                continue
            replaced = payload(envelope)
            parts = self._replaced(replaced, envelope) if isinstance(replaced, PartsReplaced) else []
            if not parts:
                continue
            try:
                self._save(parts, position=Tracking(tracking, envelope.position))
            except IntegrityError:
                continue  # processed meanwhile (another process, or a redelivery)
            tracked = envelope.position
            changed += 1
        if seen > tracked:  # the rest of the batch was nothing for parts: remember it was seen, once
            with contextlib.suppress(IntegrityError):
                self._save([], position=Tracking(tracking, seen))
        return changed

    def _replaced(self, replaced: PartsReplaced, envelope: Envelope) -> list[OldPart]:
        ids = {part_id_for(p.part_id): p for p in replaced.parts}
        known = recorder_of(self).existing_aggregates(list(ids))
        causation_id = f"dispatch:{envelope.event_id}"
        return [
            self._new_part(p.part_id, replaced.complaint_no, replaced.dispatch_id, _record_of(p), "dispatch",
                           replaced.completed_at, causation_id)
            for aggregate_id, p in ids.items()
            if aggregate_id not in known
        ]  # fmt: skip

    # ------------------------------------------------------------------------------ commands

    def execute(self, command: cmd.AnyPartsCommand, now: dt.datetime, causation_id: str) -> tuple[str, list[str]]:
        """Run one staff command at the service clock's `now`; return (complaint_no, recorded events)."""
        allowed = PERMISSIONS[type(command)]
        if command.actor.role not in allowed:
            raise Forbidden(
                f"role {command.actor.role!r} may not {type(command).__name__}; allowed: {', '.join(sorted(allowed))}"
            )
        actor = Actor(command.actor.id, command.actor.role)
        if isinstance(command, cmd.RecordPart):
            return command.complaint_no, self._record_part(command, actor, now, causation_id)
        if isinstance(command, cmd.RecordMarketPrice):
            return "", self._record_market_price(command, actor, now, causation_id)
        part = self.part(command.part_id)
        others: list[EventSourced] = []
        today = _iso(china_date(now))
        p = self.policy
        match command:
            case cmd.ReportHandInDelay(reason=reason, expected_on=expected_on):
                part.report_delay(actor, reason, expected_on, now, causation_id)
            case cmd.HandInPart():
                delay = decide("PRT-DUE-7D", {"completed_on": part.record.completed_on, "on": today}, p)
                part.hand_in(actor, delay, self._fine(part, today), now, causation_id)
            case cmd.RecoverPart():
                part.recover(actor, now, causation_id)
            case cmd.ShipPart(waybill=waybill):
                part.ship(actor, waybill, now, causation_id)
            case cmd.ReceivePartAtHq():
                part.receive_at_hq(actor, now, causation_id)
            case cmd.DecideDisposition():
                facts: dict[str, object] = {"chosen": command.disposition, "claim_value_fen": command.claim_value_fen,
                         "reuse_value_fen": command.reuse_value_fen, "return_freight_fen": command.return_freight_fen,
                         "sale_value_fen": command.sale_value_fen, "needed_for_analysis": command.needed_for_analysis,
                         "part_id": part.part_id, "must_return": part.record.return_to_hq}  # fmt: skip
                part.decide_disposition(actor, decide("PRT-DISPOSITION", facts, p), now, causation_id)
            case cmd.CompletePartRecord():
                fields = {name: value.strip() for name, value in msgspec.structs.asdict(command).items()
                          if name in RECORD_FIELDS and isinstance(value, str)}  # fmt: skip
                check = self._record_check(msgspec.structs.replace(part.record, **fields))
                part.complete_record(actor, fields, check, now, causation_id)
            case cmd.ReportSale():
                part.require_record_for_sale(self._record_check(part.record))
                floor = self._price_floor(part, command, china_date(now))
                quotes = [pe.SaleQuote(q.buyer, q.contact, q.price_fen) for q in command.quotes]
                part.report_sale(actor, command.buyer, command.price_fen, quotes, command.reason, floor, now,
                                 causation_id)  # fmt: skip
            case cmd.VerifySale():
                part.verify_sale(actor, now, causation_id)
            case cmd.ApproveSale():
                part.approve_sale(actor, now, causation_id)
            case cmd.RecordSale():
                part.record_sale(actor, self._record_check(part.record), now, causation_id)
            case cmd.RequestDisposal():
                others = self._request_disposal(part, actor, now, causation_id)
            case cmd.ApproveDisposal():
                self._approve_disposal(part, actor, now, causation_id)
            case cmd.RecordDisposal(recipient=recipient):
                self._require_level_still_approved(part, now, causation_id)
                part.dispose(actor, recipient, now, causation_id)
            case cmd.StartResponsibilityReview(part_class=part_class, review_date=review_date):
                inputs = {"part_class": part_class, "review_date": _iso(review_date or china_date(now))}
                part.start_review(actor, decide("PRT-RESPONSIBILITY", inputs, p), now, causation_id)
            case cmd.SettleResponsibility():
                facts = {"attributed_to": command.attributed_to, "party": command.party,
                         "cost_fen": command.cost_fen, "in_warranty": command.in_warranty}  # fmt: skip
                claim = decide("PRT-SUPPLIER-CLAIM", facts, p)
                part.settle_responsibility(actor, command.attributed_to, command.party, command.cost_fen, claim, now,
                                           causation_id)  # fmt: skip
            case cmd.SettleSupplierClaim(recovered_fen=recovered):
                part.settle_claim(actor, recovered, now, causation_id)
        return part.complaint_no, self._save([part, *others])

    def _record_part(self, command: cmd.RecordPart, actor: Actor, now: dt.datetime, causation_id: str) -> list[str]:
        part_id = command.part_id or f"{command.complaint_no}:{command.dispatch_order_no}:{command.material_code}"
        if recorder_of(self).existing_aggregates([part_id_for(part_id)]):
            raise CommandRejected(f"old part {part_id} is recorded already")
        record = pe.PartRecord(
            dispatch_order_no=command.dispatch_order_no, equipment_no=command.equipment_no,
            material_code=command.material_code, description=command.description,
            quantity=command.quantity, unit_price_fen=command.unit_price_fen,
            total_fen=command.quantity * command.unit_price_fen,
            responsible_engineer=command.responsible_engineer, region=command.region,
            fault=command.fault, return_to_hq=command.return_to_hq,
            completed_on=command.completed_on.isoformat(),
        )  # fmt: skip
        part = self._new_part(part_id, command.complaint_no, None, record, actor.id, now, causation_id)
        try:
            return self._save([part])
        except IntegrityError:
            raise CommandRejected(f"old part {part_id} is recorded already") from None

    def _record_market_price(
        self, command: cmd.RecordMarketPrice, actor: Actor, now: dt.datetime, causation_id: str
    ) -> list[str]:
        aggregate_id = market_price_id_for(command.region, command.day)
        if recorder_of(self).existing_aggregates([aggregate_id]):
            price: MarketPrice = self.repository.get(aggregate_id)
            price.revise(command.price_per_ton_fen, command.source, actor, now, causation_id)
        else:
            price = MarketPrice.record(command.region, command.day, command.price_per_ton_fen, command.source, actor,
                                       now, causation_id)  # fmt: skip
        return self._save([price])

    def _fine(self, part: OldPart, today: str) -> Decision:
        facts = {"engineer": part.record.responsible_engineer, "part_id": part.part_id, "due_date": part.due_date,
                 "on": today, "reason_reported": part.delay_reason is not None}  # fmt: skip
        return decide("FIN-PART-LATE", facts, self.policy)

    def _price_floor(self, part: OldPart, command: cmd.ReportSale, today: dt.date) -> Decision:
        region = part.record.region or ""
        aggregate_id = market_price_id_for(region, today)
        if recorder_of(self).existing_aggregates([aggregate_id]):
            market: MarketPrice = self.repository.get(aggregate_id)
            per_ton, source = market.price_per_ton_fen, f"market:{region}:{today.isoformat()}"
        elif command.reference_class is not None and command.reference_class in self.policy.reference_price_per_ton_fen:
            per_ton = self.policy.reference_price_per_ton_fen[command.reference_class]
            source = f"reference:{command.reference_class}"
        else:
            raise CommandRejected(
                f"PRT-PRICE-FLOOR: no market price recorded for {region} on {today.isoformat()} "
                f"(old_parts_officer: record_market_price), and no reference class "
                f"({', '.join(sorted(self.policy.reference_price_per_ton_fen))}) given"
            )
        inputs = {
            "region": region, "day": today.isoformat(), "market_price_per_ton_fen": per_ton, "price_source": source,
            "weight_kg": command.weight_kg, "price_fen": command.price_fen,
            "quote_count": distinct_buyers(command.quotes),
            "remote_reduction": None if command.remote_reduction is None else str(command.remote_reduction),
        }  # fmt: skip
        return decide("PRT-PRICE-FLOOR", inputs, self.policy)

    # ------------------------------------------------------------------ disposal (PRT-SCRAP-APPROVAL)

    def _ledger(self, part: OldPart, now: dt.datetime, causation_id: str) -> ScrapLedger:
        if part.disposal is not None:
            material, source = part.disposal.ledger  # where its lot went, even if the record changed since
        else:
            material, source = part.record.material_code or "", part.record.region or ""
        aggregate_id = ledger_id_for(material, source)
        if recorder_of(self).existing_aggregates([aggregate_id]):
            ledger: ScrapLedger = self.repository.get(aggregate_id)
            return ledger
        return ScrapLedger.open(material, source, now, part.complaint_no, causation_id)

    def _scrap_decision(self, lot: pe.ScrapLot, ledger: ScrapLedger, level_before: str | None = None) -> Decision:
        lots = [msgspec.to_builtins(other) for other in ledger.lots if other.part_id != lot.part_id]
        inputs: dict[str, object] = {"lot": msgspec.to_builtins(lot), "lots": lots}
        if level_before is not None:
            inputs["level_before"] = level_before
        return decide("PRT-SCRAP-APPROVAL", inputs, self.policy)

    def _request_disposal(self, part: OldPart, actor: Actor, now: dt.datetime, causation_id: str) -> list[EventSourced]:
        ledger = self._ledger(part, now, causation_id)
        lot = pe.ScrapLot(part.part_id, part.record.total_fen, _iso(china_date(now)))
        part.request_disposal(actor, self._scrap_decision(lot, ledger), now, causation_id)
        ledger.add(lot, now, part.complaint_no, causation_id)
        return [ledger, *self._relevel(part, ledger, now, causation_id)]

    def _relevel(self, requested: OldPart, ledger: ScrapLedger, now: dt.datetime, causation_id: str) -> list[OldPart]:
        """PRT-SCRAP-APPROVAL (parts-2026.2): the new lot may raise the sum of the lots around it past a
        threshold; every such lot not yet disposed of is re-levelled, in the same transaction (so a
        concurrent approval or disposal of one of them conflicts instead of slipping through)."""
        if not self.policy.relevel_open_lots:
            return []
        today = china_date(now)
        window = dt.timedelta(days=self.policy.scrap_window_days)
        relevelled = []
        for lot in ledger.lots:
            if lot.part_id == requested.part_id or abs(dt.date.fromisoformat(lot.on) - today) > window:
                continue
            other = self.part(lot.part_id)
            if other.disposal is None or other.closed:
                continue
            decision = self._scrap_decision(lot, ledger, other.disposal.level)
            if other.relevel_disposal(decision, now, causation_id):
                relevelled.append(other)
        return relevelled

    def _require_level_still_approved(self, part: OldPart, now: dt.datetime, causation_id: str) -> None:
        """Before carrying out an approved disposal, the level is decided once more over the window's lots:
        an approval below what the sum needs does not carry it (also for approvals from before parts-2026.2)."""
        if not self.policy.relevel_open_lots or part.disposal is None or part.disposal.approved_by is None:
            return
        ledger = self._ledger(part, now, causation_id)
        lot = pe.ScrapLot(part.part_id, part.record.total_fen, part.disposal.requested_on)
        decision = self._scrap_decision(lot, ledger, part.disposal.level)
        if decision.outputs["raised"]:
            raise CommandRejected(
                f"PRT-SCRAP-APPROVAL: part {part.part_id}'s disposal was approved at {part.disposal.level} level "
                f"by {part.disposal.approved_by}, but lots of the same spec now total "
                f"{decision.outputs['total_fen']} fen and need {decision.outputs['level']} approval "
                f"({', '.join(decision.outputs['approvers'])})"
            )

    def _approve_disposal(self, part: OldPart, actor: Actor, now: dt.datetime, causation_id: str) -> None:
        """The level is re-decided at approval over every lot now in the window, so lots split and
        requested one after another all need the level of their sum."""
        if part.disposal is None:
            raise CommandRejected(f"part {part.part_id} has no disposal request")
        ledger = self._ledger(part, now, causation_id)
        lot = pe.ScrapLot(part.part_id, part.record.total_fen, part.disposal.requested_on)
        approval = self._scrap_decision(lot, ledger)
        if actor.role not in approval.outputs["approvers"]:
            raise Forbidden(
                f"PRT-SCRAP-APPROVAL: {approval.outputs['total_fen']} fen of {part.record.material_code} from "
                f"{part.record.region} within {approval.outputs['window_days']} days needs "
                f"{approval.outputs['level']} approval ({', '.join(approval.outputs['approvers'])}); "
                f"role {actor.role!r} may not approve it"
            )
        part.approve_disposal(actor, approval, now, causation_id)

    # ------------------------------------------------------------------------------ clock

    def fire_due(self, now: dt.datetime, limit: int = 500) -> int:
        """Fire every timer the clock has passed, each exactly once; return how many fired. A failing
        timer is parked with its reason and the others fire (`shared/runtime/timers.py`)."""
        causation_id = f"clock:{now.isoformat()}"
        today = _iso(china_date(now))

        def fire(part: OldPart, timer: Timer) -> None:
            if timer.kind == "overdue":
                delay = decide("PRT-DUE-7D", {"completed_on": part.record.completed_on, "on": today},
                               self.policy)  # fmt: skip
                part.check_overdue(delay, self._fine(part, today), now, causation_id)
            elif timer.kind == "responsibility":
                part.escalate_responsibility(self.policy.responsibility_escalate_to, now, causation_id)

        return fire_due_timers("parts", recorder_of(self), now, self.repository.get, fire, self._save, limit)


def _record_of(part: ReplacedPart) -> pe.PartRecord:
    record: dict[str, object] = msgspec.to_builtins(part)
    record.pop("part_id", None)
    return msgspec.convert(record, pe.PartRecord)


def _timers_for(events: Iterable[DomainEvent]) -> Iterable[Timer]:
    """The daily overdue checks (PRT-DUE-7D) and responsibility deadlines the new events schedule."""
    for event in events:
        if isinstance(event, (pe.PartRecorded, pe.PartOverdue)):
            at = event.outputs["next_check_at"]
            yield Timer(f"{event.originator_id}:PRT-DUE-7D:{at}", event.originator_id, "overdue",
                        dt.datetime.fromisoformat(at))  # fmt: skip
        elif isinstance(event, pe.ResponsibilityReviewStarted):
            at = event.outputs["escalate_at"]
            yield Timer(f"{event.originator_id}:PRT-RESPONSIBILITY:{event.review_date}", event.originator_id,
                        "responsibility", dt.datetime.fromisoformat(at))  # fmt: skip


def distinct_buyers(quotes: Sequence[cmd.Quote]) -> int:
    """PRT-PRICE-FLOOR wants quotes from at least 3 buyers: three quotes from one buyer count once."""
    return len({"".join(q.buyer.split()).lower() for q in quotes})
