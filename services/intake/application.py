"""Intake application service: load → decide → save, one method per command. No NATS, no HTTP.

Time always comes in as a value: the message's own timestamp, or the service clock's `now` for a
staff command or a tick. Rules are evaluated by `policy`, and their decisions handed to the aggregate.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from services.intake import policy
from services.intake.domain import (
    CalendarYear,
    CommandRejected,
    Complaint,
    Equipment,
    Erasure,
    VoidNumber,
    calendar_id_for,
    complaint_id_for,
    equipment_id_for,
)
from services.intake.policy import IntakePolicy, china_date, current_policy, decide
from shared.events import commands as cmd
from shared.events.catalog import payload
from shared.events.common_events import DeadlineSet
from shared.events.decisions import Actor, Decision
from shared.events.dispatch_events import RepairOutcomeRecorded
from shared.events.envelope import Envelope
from shared.events.intake_events import ComplaintReceived, ExpiryNoticeScheduled
from shared.events.telephony import ComplaintReceivedV1, SurveyCompletedV1
from shared.events.values import CustomerInfo, EquipmentInfo, SiteInfo
from shared.runtime.failures import RetryLater
from shared.runtime.store import (
    PostgresStore,
    RegisterClaim,
    RegisterNumbersTaken,
    StoredApplication,
    Timer,
    Tracking,
    recorder_of,
)
from shared.runtime.timers import fire_due_timers
from shared.security.keystore import CustomerKeyStore
from shared.security.personal import phone_subject
from shared.security.sealing import CustomerErased, Sealer
from shared.workcal import CalendarRegistry, InvalidSchedule, YearSchedule, with_calendar

NUMBERING_ATTEMPTS = 50
LOST_NUMBER_REASON = "number taken but never given to a complaint (a retried batch under sequence-based numbering)"

# Who may do what (docs/rules.md §7).
CALENDAR_PUBLISHERS = frozenset({"ops"})  # docs/rules.md §9: ops publish the State Council's calendar
ERASERS = frozenset({"ops"})  # PII-ERASE (docs/rules.md §11): ops carry out a customer's deletion request
PERMISSIONS: dict[type[cmd.IntakeCommand], frozenset[str]] = {
    cmd.Relay: frozenset({"agent"}),
    cmd.CompleteRecord: frozenset({"agent"}),
    cmd.Classify: frozenset({"tq"}),
    cmd.Answer: frozenset({"tq"}),
    cmd.DecideSolution: frozenset({"tq"}),
    cmd.RecordRepair: frozenset({"engineer", "tq"}),
    cmd.Close: frozenset({"tq", "agent"}),
    cmd.FineRecordIncomplete: frozenset({"branch_manager", "tq"}),
    # docs/rules.md §9: who talks to the customer records the first response; the dispatched
    # engineer may be known only to dispatch, so the role is what is checked.
    cmd.RecordFirstContact: frozenset({"agent", "tq", "engineer"}),
    cmd.AttributeFine: frozenset({"branch_manager"}),  # docs/rules.md §9: unattributed fines
}
COMPLETABLE_FIELDS = frozenset({
    "agent_id", "customer.name", "customer.phone", "equipment.model", "equipment.serial", "equipment.acceptance_date",
    "description", "site.region", "site.distance_km", "site.address", "site.lat", "site.lon",
})  # fmt: skip


@dataclass(frozen=True)
class InboundCall:
    call: ComplaintReceivedV1
    causation_id: str


@dataclass
class RegisterOutcome:
    registered: list[str] = field(default_factory=list)
    duplicates: int = 0


class UnknownComplaint(LookupError):
    pass


class Forbidden(PermissionError):
    pass


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat()


class IntakeApplication(StoredApplication):
    name = "intake"

    def __init__(self, store: PostgresStore) -> None:
        super().__init__(store)
        self.policy: IntakePolicy = current_policy()
        self.calendars = CalendarRegistry()
        self._numbering = threading.Lock()
        self.keys: CustomerKeyStore | None = None
        """PII-SEAL (docs/rules.md §11): the customers' keys; the composition root sets them, and from
        then on personal data is sealed before anything records it."""

    def use_keys(self, keys: CustomerKeyStore) -> None:
        self.keys = keys

    def close(self) -> None:
        super().close()
        if self.keys is not None:
            self.keys.close()

    # ---------------------------------------------------------------------------- registration

    def register(self, calls: Sequence[InboundCall]) -> RegisterOutcome:
        """INT-REGISTER + INT-DEDUP for a batch, saved in one transaction, numbered in delivery order.

        A call already registered (in this batch or ever before) is a duplicate and changes nothing;
        of two deliveries of one call, the first is kept. Register numbers are taken in the same
        transaction as the events, so a failed or retried batch uses up none (no gaps).
        """
        outcome = RegisterOutcome()
        unique: dict[uuid.UUID, InboundCall] = {}
        for inbound in calls:
            key = complaint_id_for(inbound.call.call_id)
            if key in unique:
                outcome.duplicates += 1
            else:
                unique[key] = inbound
        recorder = recorder_of(self)
        existing = recorder.existing_aggregates(list(unique))
        outcome.duplicates += len(existing)
        fresh = [inbound for key, inbound in unique.items() if key not in existing]
        if not fresh:
            return outcome
        if self.keys is not None:  # PII-SEAL: before any decision records a field
            sealed = Sealer(self.keys).seal_calls([i.call for i in fresh])
            fresh = [InboundCall(call, i.causation_id) for call, i in zip(sealed, fresh, strict=True)]
        extensions = self._extension_days([i.call.equipment.serial for i in fresh])
        try:
            complaints = self._save_numbered(fresh, extensions)
        except IntegrityError:
            # Another writer registered one of these calls meanwhile: settle them one at a time.
            return self._register_one_by_one(fresh, extensions, outcome)
        outcome.registered += [c.complaint_no for c in complaints]
        return outcome

    def _save_numbered(self, calls: Sequence[InboundCall], extensions: dict[str, int]) -> list[Complaint]:
        """Number `calls` in order (INT-REGISTER, one counter per year of receipt) and save them with
        their numbers taken in the same transaction. In this process one batch is numbered at a time;
        if another process took the numbers meanwhile, number again."""
        years = [china_date(i.call.received_at).year for i in calls]
        with self._numbering:
            for _ in range(NUMBERING_ATTEMPTS):
                last = recorder_of(self).register_last(sorted(set(years)))
                claims = [RegisterClaim(year, after, years.count(year)) for year, after in last.items()]
                complaints = []
                for inbound, year in zip(calls, years, strict=True):
                    last[year] += 1
                    complaints.append(self._receive(inbound, last[year], extensions))
                try:
                    self._save(complaints, numbers=claims,
                               lookups=[(f"complaint_no:{c.complaint_no}", c.id) for c in complaints])  # fmt: skip
                except RegisterNumbersTaken:
                    continue
                return complaints
        raise RegisterNumbersTaken(f"register numbers taken by other writers {NUMBERING_ATTEMPTS} times in a row")

    def _register_one_by_one(
        self, calls: Sequence[InboundCall], extensions: dict[str, int], outcome: RegisterOutcome
    ) -> RegisterOutcome:
        for inbound in calls:
            try:
                (complaint,) = self._save_numbered([inbound], extensions)
            except IntegrityError:
                outcome.duplicates += 1
            else:
                outcome.registered.append(complaint.complaint_no)
        return outcome

    def void_lost_numbers(self, now: dt.datetime, reason: str = LOST_NUMBER_REASON) -> list[str]:
        """INT-REGISTER: record every number that no complaint carries (a gap in the register) as
        void with `reason`, so the register shows it; return the numbers voided. Numbers are taken
        in the events' transaction, so this finds only numbers lost otherwise (by the sequence of
        earlier versions, or a counter moved by hand)."""
        voids = [VoidNumber.void(policy.register_number_in(year, n), reason, now, f"register:{_iso(now)}")
                 for year, n in recorder_of(self).register_gaps()]  # fmt: skip
        if not voids:
            return []
        try:
            self._save(voids, lookups=[(f"void_no:{v.complaint_no}", v.id) for v in voids])
        except IntegrityError:
            return []  # voided by another process meanwhile
        return [v.complaint_no for v in voids]

    def _extension_days(self, serials: Iterable[str | None]) -> dict[str, int]:
        """WAR-EXTEND-60D extensions already granted to these units (few units have any)."""
        ids = {equipment_id_for(s): s for s in serials if s}
        found = recorder_of(self).existing_aggregates(list(ids))
        days: dict[str, int] = {}
        for equipment_id in found:
            unit: Equipment = self.repository.get(equipment_id)
            days[ids[equipment_id]] = unit.extension_days
        return days

    def _receive(self, inbound: InboundCall, sequence: int, extensions: dict[str, int]) -> Complaint:
        call, p = inbound.call, self.policy
        received = _iso(call.received_at)
        decisions = [
            decide("INT-RELAY-4WH", {"received_at": received}, p),
            decide("INT-REPLY-8WH", {"received_at": received}, p),
        ]
        if call.kind == "consultation":
            decisions.append(decide("INT-LEVELS", {"received_at": received, "kind": "consultation", "level": None}, p))
        serial = call.equipment.serial
        warranty = self._warranty_decision(
            call.equipment.acceptance_date, china_date(call.received_at), extensions.get(serial or "", 0)
        )
        decisions.append(warranty)
        if warranty.outputs["in_warranty"]:
            decisions.append(decide("WAR-EXPIRY-NOTICE", {"until": warranty.outputs["until"], "serial": serial}, p))
        return Complaint.receive(
            complaint_no=policy.register_number(sequence, call.received_at),
            call_id=call.call_id,
            received_at=call.received_at,
            kind=call.kind,
            agent_id=call.agent_id,
            customer=msgspec.convert(call.customer, CustomerInfo, from_attributes=True),
            equipment=msgspec.convert(call.equipment, EquipmentInfo, from_attributes=True),
            site=msgspec.convert(call.site, SiteInfo, from_attributes=True),
            description=call.description,
            missing_fields=policy.missing_fields(call, p),
            decisions=decisions,
            causation_id=inbound.causation_id,
        )

    def _warranty_decision(self, acceptance: dt.date | str | None, on: dt.date, extension_days: int) -> Decision:
        acceptance_iso = acceptance.isoformat() if isinstance(acceptance, dt.date) else acceptance
        inputs = {"acceptance_date": acceptance_iso, "on": on.isoformat(), "months": self.policy.warranty_months,
                  "extension_days": extension_days}  # fmt: skip
        return decide("WAR-PERIOD", inputs, self.policy)

    # ------------------------------------------------------------------------------- saving

    def _save(self, aggregates: Sequence[Any], **kwargs: Any) -> list[str]:
        """Save aggregates with the timers their new events schedule, in one transaction."""
        events: list[Any] = [e for a in aggregates for e in a.collect_events()]
        timers = list(_timers_for(events))
        self.save(*events, timers=timers, **kwargs)
        return [getattr(type(e), "wire_type", type(e).__name__) for e in events]

    # ------------------------------------------------------------------------------- lookups

    def complaint_by_number(self, complaint_no: str) -> Complaint:
        aggregate_id = recorder_of(self).lookup(f"complaint_no:{complaint_no}")
        if aggregate_id is None:
            raise UnknownComplaint(f"no complaint {complaint_no}")
        complaint: Complaint = self.repository.get(aggregate_id)
        return complaint

    # ------------------------------------------------------------------- the working calendar (§9)

    def calendar_published(self, schedule: YearSchedule) -> bool:
        """A published year reached this process (from the stream): later decisions use it."""
        if not self.calendars.publish(schedule):
            return False
        self.policy = with_calendar(self.policy, self.calendars.current())
        return True

    def publish_calendar(self, command: cmd.PublishCalendar, now: dt.datetime, causation_id: str) -> list[str]:
        """Record one year's calendar as ops published it; the same content again records nothing."""
        if command.actor.role not in CALENDAR_PUBLISHERS:
            raise Forbidden(f"role {command.actor.role!r} may not PublishCalendar; allowed: ops")
        try:
            schedule = YearSchedule.make(command.year, command.holidays, command.workdays, "published")
        except InvalidSchedule as exc:
            raise CommandRejected(f"calendar {command.year}: {exc}") from None
        content = {**schedule.as_data(), "calendar_version": schedule.version, "digest": schedule.digest,
                   "notice": command.notice}  # fmt: skip
        del content["year"]
        actor = Actor(command.actor.id, command.actor.role)
        try:
            year: CalendarYear = self.repository.get(calendar_id_for(command.year))
        except AggregateNotFoundError:
            year = CalendarYear.publish(command.year, content, actor, now, causation_id)
        else:
            if year.calendar_version == schedule.version:
                return []
            year.republish(content, actor, now, causation_id)
        events = self._save([year])
        self.calendar_published(schedule)
        return events

    # ------------------------------------------------------------------- personal data (PIPL)

    def erase_personal_data(self, command: cmd.ErasePersonalData, now: dt.datetime, causation_id: str) -> list[str]:
        """PII-ERASE: destroy every key of the customer with this phone (crypto-shredding) and record
        `PersonalDataErased` with who asked, why and when; both or neither. Refused when nothing of
        that phone is held (never held, or erased already)."""
        if command.actor.role not in ERASERS:
            raise Forbidden(f"role {command.actor.role!r} may not ErasePersonalData; allowed: ops")
        if self.keys is None:
            raise CommandRejected("this intake holds no customer keys")
        subject = phone_subject(self.keys.index_secret(), command.phone)
        actor = Actor(command.actor.id, command.actor.role)
        with self.keys.erasing(subject, now, actor.id) as key_ids:
            if not key_ids:
                raise CommandRejected("no personal data is held for this phone (never given, or erased already)")
            return self._save([Erasure.erase(key_ids, actor, command.reason, now, causation_id)])

    # ------------------------------------------------------------------------------ commands

    def execute(self, command: cmd.AnyIntakeCommand, now: dt.datetime, causation_id: str) -> list[str]:
        """Run one staff command at the service clock's `now`; return the events it recorded."""
        allowed = PERMISSIONS[type(command)]
        if command.actor.role not in allowed:
            raise Forbidden(
                f"role {command.actor.role!r} may not {type(command).__name__}; allowed: {', '.join(sorted(allowed))}"
            )
        complaint = self.complaint_by_number(command.complaint_no)
        self._settle_overdue(complaint, now, causation_id)
        actor = Actor(command.actor.id, command.actor.role)
        others: list[Any] = []
        match command:
            case cmd.Relay():
                complaint.relay(actor, now, causation_id)
            case cmd.CompleteRecord(fields=fields):
                self._complete(complaint, actor, fields, now, causation_id)
            case cmd.Classify(cause=cause, level=level, on_site=on_site):
                first = decide("INT-LEVELS", {"received_at": _iso(complaint.received_at), "kind": "fault",
                                              "level": level}, self.policy)  # fmt: skip
                complaint.classify(actor, cause, level, on_site, now, causation_id, first)
                self._decide_payer(complaint, now, causation_id)
            case cmd.Answer(answer=text):
                complaint.answer(actor, text, now, causation_id)
            case cmd.DecideSolution(solution=solution, expected_repair_hours=hours):
                loaner = decide("WAR-LOANER", {"expected_repair_hours": hours, "decided_at": _iso(now)}, self.policy)
                complaint.decide_solution(actor, solution, hours, now, causation_id, loaner)
            case cmd.RecordRepair(problem=problem, outcome=outcome_, stops_work=stops_work):
                others = self._record_repair(complaint, actor, problem, outcome_, stops_work, now, causation_id)
            case cmd.Close(outcome=outcome_):
                complaint.close(actor, outcome_, now, causation_id)
            case cmd.FineRecordIncomplete(reason=reason, extra_cost_fen=extra):
                # FIN-RECORD-INCOMPLETE: what the record lacked when received, the extra cost it
                # caused, and how often this record was fined so before (at most once, §9).
                facts = {"receiver": complaint.agent_id, "extra_cost_fen": extra,
                         "missing_fields": complaint.missing_at_receipt,
                         "levied_before": complaint.fines_under("FIN-RECORD-INCOMPLETE")}  # fmt: skip
                fine = decide("FIN-RECORD-INCOMPLETE", facts, self.policy)
                complaint.levy_fine(fine, now, causation_id, reason=reason)
            case cmd.RecordFirstContact(channel=channel, agreed=agreed, visit_at=visit_at):
                complaint.record_first_contact(actor, channel, agreed, visit_at, now, causation_id)
            case cmd.AttributeFine(fine_id=fine_id, person=person, role=role, reason=reason):
                complaint.attribute_fine(actor, fine_id, person, role, reason, now, causation_id)
        return self._save([complaint, *others])

    def _complete(
        self, complaint: Complaint, actor: Actor, fields: dict[str, Any], now: dt.datetime, causation_id: str
    ) -> None:
        unknown = sorted(set(fields) - COMPLETABLE_FIELDS)
        if unknown:
            raise CommandRejected(
                f"cannot complete {', '.join(unknown)}; completable: {', '.join(sorted(COMPLETABLE_FIELDS))}"
            )
        if "agent_id" in fields and (complaint.agent_id or "").strip():
            # The receiver carries FIN-RELAY-LATE; once known it is not rewritten by a record
            # completion (an unattributed fine is attributed by the branch manager, docs/rules.md §9).
            raise CommandRejected(f"the receiver is already recorded ({complaint.agent_id}); it is not completable")
        if self.keys is not None:  # PII-SEAL
            recorded = {"customer.name": complaint.customer.name, "customer.phone": complaint.customer.phone,
                        "site.address": complaint.site.address}  # fmt: skip
            try:
                fields = Sealer(self.keys).seal_completion(fields, recorded, complaint.call_id)
            except CustomerErased as exc:
                raise CommandRejected(str(exc)) from None
        if "equipment.acceptance_date" in fields:
            try:
                dt.date.fromisoformat(str(fields["equipment.acceptance_date"]))
            except ValueError:
                raise CommandRejected("equipment.acceptance_date must be a date like 2025-06-01") from None
        required = policy.required_fields(self.policy)
        current = {name: _field(complaint, name) for name in required}
        current.update({k: v for k, v in fields.items() if k in current})
        missing = [name for name in required if not str(current[name] or "").strip()]
        has_distance = fields.get("site.distance_km", complaint.site.distance_km) is not None
        has_coordinates = all(fields.get(f"site.{c}", getattr(complaint.site, c)) is not None for c in ("lat", "lon"))
        if not has_distance and not has_coordinates:
            missing.append("site.distance_km")
        complaint.complete_record(actor, fields, missing, now, causation_id)
        self._revisit_warranty(complaint, now, causation_id)

    def _revisit_warranty(self, complaint: Complaint, now: dt.datetime, causation_id: str) -> None:
        """Warranty is revisited on every event that can change it."""
        serial = complaint.equipment.serial
        extensions = self._extension_days([serial]).get(serial or "", 0)
        decision = self._warranty_decision(
            complaint.equipment.acceptance_date, china_date(complaint.received_at), extensions
        )
        if complaint.decide_warranty(decision, now, causation_id):
            if decision.outputs["in_warranty"]:
                notice = decide(
                    "WAR-EXPIRY-NOTICE", {"until": decision.outputs["until"], "serial": serial}, self.policy
                )
                complaint.schedule_expiry_notice(notice, now, causation_id)
            if complaint.cause is not None:
                self._decide_payer(complaint, now, causation_id)

    def _decide_payer(self, complaint: Complaint, now: dt.datetime, causation_id: str) -> None:
        decision = decide("WAR-PAYER", {"in_warranty": complaint.warranty.in_warranty, "cause": complaint.cause},
                          self.policy)  # fmt: skip
        complaint.decide_payer(decision, now, causation_id)

    def _record_repair(
        self, complaint: Complaint, actor: Actor, problem: str, outcome: str, stops_work: bool, now: dt.datetime,
        causation_id: str,
    ) -> list[Any]:  # fmt: skip
        serial = complaint.equipment.serial
        if not serial:
            raise CommandRejected("record the equipment serial first (complete the record)")
        unit = self._equipment(serial, now, complaint.complaint_no, causation_id)
        history = [*unit.outcomes_of(problem), outcome]
        in_warranty = complaint.warranty.in_warranty
        extension = decide("WAR-EXTEND-60D", {"in_warranty": in_warranty, "fault_removed": outcome == "fixed",
                                              "stops_work": stops_work}, self.policy)  # fmt: skip
        lemon = decide("WAR-LEMON", {"in_warranty": in_warranty, "cause": complaint.cause,
                                     "outcomes_of_same_problem": history}, self.policy)  # fmt: skip
        complaint.record_repair(actor, problem, outcome, stops_work, now, causation_id, extension, lemon)
        unit.note_repair(complaint.complaint_no, problem, outcome, now, causation_id)
        if extension.outputs["extend"]:
            unit.extend(complaint.complaint_no, extension.outputs["days"], now, causation_id)
            decision = self._warranty_decision(
                complaint.equipment.acceptance_date, china_date(complaint.received_at), unit.extension_days
            )
            if complaint.decide_warranty(decision, now, causation_id) and decision.outputs["in_warranty"]:
                notice = decide(
                    "WAR-EXPIRY-NOTICE", {"until": decision.outputs["until"], "serial": serial}, self.policy
                )
                complaint.schedule_expiry_notice(notice, now, causation_id)
        return [unit]

    def _equipment(self, serial: str, now: dt.datetime, complaint_no: str, causation_id: str) -> Equipment:
        equipment_id = equipment_id_for(serial)
        if recorder_of(self).existing_aggregates([equipment_id]):
            unit: Equipment = self.repository.get(equipment_id)
            return unit
        return Equipment.register(serial, now, complaint_no, causation_id)

    # ------------------------------------------------------------------- from dispatch's events

    def on_dispatch_events(self, upstream: str, envelopes: Sequence[Envelope]) -> int:
        """Repair outcomes recorded by dispatch (WAR-EXTEND-60D, WAR-LEMON), each exactly once:
        saved with the upstream position, and skipped if at or below the recorded one."""
        done = recorder_of(self).max_tracking_id(upstream) or 0
        changed = 0
        for envelope in envelopes:
            if envelope.position <= done or envelope.type != "RepairOutcomeRecorded":
                continue
            outcome = payload(envelope)
            if not isinstance(outcome, RepairOutcomeRecorded):
                continue
            actor = Actor(outcome.engineer_id, "engineer")
            causation_id = f"{upstream}:{envelope.position}"
            try:
                complaint = self.complaint_by_number(outcome.complaint_no)
                self._settle_overdue(complaint, outcome.completed_at, causation_id)
                unit = self._record_repair(complaint, actor, outcome.problem, outcome.outcome, outcome.stops_work,
                                           outcome.completed_at, causation_id)  # fmt: skip
            except (UnknownComplaint, CommandRejected):
                continue  # not a complaint we can decide on (unknown, closed or without a serial)
            try:
                self._save([complaint, *unit], position=Tracking(upstream, envelope.position))
            except IntegrityError:
                if (recorder_of(self).max_tracking_id(upstream) or 0) >= envelope.position:
                    continue  # already applied by an earlier delivery
                # A concurrent write to the complaint or its unit: never skip the outcome, come back.
                raise RetryLater(f"{upstream} #{envelope.position} conflicted with a concurrent change") from None
            done = envelope.position
            changed += 1
        return changed

    # ---------------------------------------------------------------------------- surveys

    def record_survey(self, survey: SurveyCompletedV1, causation_id: str) -> bool:
        """Record a satisfaction survey once per survey call; False if it was already recorded."""
        complaint = self.complaint_by_number(survey.complaint_no)
        complaint.record_survey(survey_call_id=survey.call_id, rating=survey.rating,
                                completed_at=survey.completed_at, causation_id=causation_id)  # fmt: skip
        try:
            self._save([complaint], keys=[f"survey:{survey.call_id}"])
        except IntegrityError:
            return False
        return True

    # ------------------------------------------------------------------------------ clock

    def fire_due(self, now: dt.datetime, limit: int = 200) -> int:
        """Fire every timer the clock has passed, each exactly once; return how many fired. Timers
        fire in batches (one transaction each); a failing one is parked (`shared/runtime/timers.py`)."""
        causation_id = f"clock:{_iso(now)}"

        def fire(complaint: Complaint, timer: Timer) -> None:
            self._on_timer(complaint, timer, now, causation_id)

        return fire_due_timers("intake", recorder_of(self), now, self.repository.get, fire, self._save, limit,
                               in_batches=True)  # fmt: skip

    def _breach(self, complaint: Complaint, rule: str, now: dt.datetime, causation_id: str) -> None:
        """A deadline the clock has passed: its breach and consequences (FIN-RELAY-LATE, escalation)."""
        fine = None
        if rule == "INT-RELAY-4WH" and complaint.deadline_open(rule):
            fine = decide("FIN-RELAY-LATE", {"receiver": complaint.agent_id, "deadline": rule,
                                             "due_at": complaint.deadlines[rule].due_at,
                                             "breached_at": _iso(now)}, self.policy)  # fmt: skip
        complaint.breach(rule, now, causation_id, fine, complaint.breach_escalates_to(rule))

    def _settle_overdue(self, complaint: Complaint, now: dt.datetime, causation_id: str) -> None:
        """Bring the complaint up to `now` before acting on it: a deadline already past is breached
        first, exactly as its timer would have done, so an action after the deadline but before
        the next clock tick still has its consequences (the timer then finds nothing open)."""
        for rule in complaint.deadlines.overdue(now):
            self._breach(complaint, rule, now, causation_id)

    def _on_timer(self, complaint: Complaint, timer: Timer, now: dt.datetime, causation_id: str) -> None:
        kind, _, detail = timer.kind.partition(":")
        if kind == "deadline":
            self._breach(complaint, detail, now, causation_id)
        elif kind == "notice":
            complaint.notice_expiry(detail, now, causation_id)


def _field(complaint: Complaint, name: str) -> Any:
    group, _, key = name.partition(".")
    return getattr(getattr(complaint, group), key) if key else getattr(complaint, group)


def _timers_for(events: Iterable[Any]) -> Iterable[Timer]:
    """The deadlines and notices the new events schedule."""
    for event in events:
        decisions: list[dict[str, Any]] = []
        if isinstance(event, ComplaintReceived):
            decisions = event.decisions
        elif isinstance(event, (DeadlineSet, ExpiryNoticeScheduled)):
            decisions = [{"rule": event.rule, "inputs": event.inputs, "outputs": event.outputs}]
        for record in decisions:
            rule, outputs = record["rule"], record["outputs"]
            if rule == "WAR-EXPIRY-NOTICE":
                # One notice per unit and expiry date, however many complaints name the unit.
                until = record["inputs"]["until"]
                serial = (record["inputs"].get("serial") or "").strip().upper() or event.originator_id
                yield Timer(f"expiry:{serial}:{until}", event.originator_id, f"notice:{until}",
                            dt.datetime.fromisoformat(outputs["notice_at"]))  # fmt: skip
            elif "due_at" in outputs:
                yield Timer(f"{event.originator_id}:{rule}", event.originator_id, f"deadline:{rule}",
                            dt.datetime.fromisoformat(outputs["due_at"]))  # fmt: skip
