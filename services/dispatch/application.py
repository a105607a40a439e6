"""Dispatch application service: load → decide → save, one method per command. No NATS, no HTTP.

Time always comes in as a value: an upstream event's own timestamp, or the service clock's `now`
for a staff command or a tick. Rules are evaluated by `policy`, their decisions handed to the
aggregates, and the timers the new events schedule are saved in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from services.dispatch.case import Case
from services.dispatch.identity import ROSTER_ID, CommandRejected, case_id_for
from services.dispatch.policy import (
    RANGED_FINES,
    DispatchPolicy,
    current_policy,
    decide,
    lightest_candidates,
)
from services.dispatch.roster import Roster
from shared.domain.deadlines import missed
from shared.events import catalog as c
from shared.events import commands as cmd
from shared.events import common_events as ce
from shared.events import dispatch_events as de
from shared.events.base import DomainEvent
from shared.events.decisions import Actor, Decision
from shared.events.envelope import Envelope
from shared.events.parts_events import PartFineLevied
from shared.runtime.failures import RetryLater
from shared.runtime.store import PostgresStore, StoredApplication, Timer, Tracking, recorder_of
from shared.runtime.timers import fire_due_timers
from shared.workcal import CalendarRegistry, YearSchedule, late_day_start, with_calendar, working_days_late

STAFF = frozenset({"agent", "tq", "engineer", "warehouse_keeper", "old_parts_officer", "branch_manager"})
MANAGERS = frozenset({"branch_manager", "deputy_gm", "gm"})

# Who may do what (docs/rules.md §7).
PERMISSIONS: dict[type[Any], frozenset[str]] = {
    cmd.RegisterEngineer: frozenset({"tq", "branch_manager"}),
    cmd.UpdateEngineer: frozenset({"tq", "branch_manager"}),
    cmd.RecordFeeConsent: frozenset({"agent", "tq"}),
    cmd.ApproveDispatch: frozenset({"deputy_gm"}),
    cmd.AssignEngineer: frozenset({"tq"}),
    cmd.ReassignEngineer: frozenset({"tq"}),
    cmd.RecordArrival: frozenset({"engineer"}),
    cmd.SubmitServiceForm: frozenset({"engineer"}),
    cmd.ApproveReturn: frozenset({"tq"}),
    cmd.RecordReturn: frozenset({"engineer"}),
    cmd.FileReport: frozenset({"engineer"}),
    cmd.StartAudit: frozenset({"tq"}),
    cmd.RecordAudit: frozenset({"tq"}),
    cmd.ConfirmServiceFault: frozenset({"tq"}),
    cmd.RecordFollowUp: frozenset({"agent", "tq"}),
    cmd.LevyFine: frozenset({"branch_manager"}),
    cmd.DisputeFine: STAFF,
    cmd.ReverseFine: MANAGERS,
    cmd.AcknowledgeEscalation: MANAGERS,
}
# Who acknowledges an escalation, by the level it is at.
ACKNOWLEDGERS = {
    "branch_manager": frozenset({"branch_manager"}),
    "deputy_gm": frozenset({"deputy_gm"}),
    "management": frozenset({"deputy_gm", "gm"}),
}
# Missed deadlines that escalate to the branch manager (docs/rules.md §4).
ESCALATED_DEADLINES = frozenset({"DSP-ARRIVE", "DSP-AUDIT-5WD"})
MAX_RETRIES = 5


class UnknownComplaint(LookupError):
    pass


class Forbidden(PermissionError):
    pass


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat()


class DispatchApplication(StoredApplication):
    name = "dispatch"

    def __init__(self, store: PostgresStore) -> None:
        super().__init__(store)
        self.policy: DispatchPolicy = current_policy()
        self.calendars = CalendarRegistry()

    # ------------------------------------------------------------------------------- saving

    def _save(self, aggregates: Iterable[Case | Roster], **kwargs: Any) -> list[str]:
        """Save aggregates with the timers their new events schedule, in one transaction."""
        events: list[DomainEvent] = [e for a in aggregates for e in a.collect_events()]  # type: ignore[misc]
        self.save(*events, timers=list(self._timers_for(events)), **kwargs)
        return [e.wire_type for e in events]

    def _timers_for(self, events: Iterable[DomainEvent]) -> Iterable[Timer]:
        for event in events:
            case_id = event.originator_id
            if isinstance(event, ce.DeadlineSet):
                yield Timer(f"{case_id}:{event.rule}", case_id, f"deadline:{event.rule}",
                            dt.datetime.fromisoformat(event.outputs["due_at"]))  # fmt: skip
            elif isinstance(event, ce.DeadlineBreached) and event.deadline == "DSP-AUDIT-5WD":
                due = dt.datetime.fromisoformat(event.due_at)
                first = late_day_start(self.policy.calendar, due, 1, self.policy.working_hours)
                yield Timer(f"{case_id}:FIN-AUDIT-LATE:1", case_id, "audit-late:1", first)
            elif isinstance(event, ce.FineLevied) and event.rule == "FIN-AUDIT-LATE":
                day = int(event.outputs["day"]) + 1
                yield Timer(f"{case_id}:FIN-AUDIT-LATE:{day}", case_id, f"audit-late:{day}",
                            dt.datetime.fromisoformat(event.outputs["next_day_at"]))  # fmt: skip
            elif isinstance(event, (ce.EscalationRaised, de.IntakeEscalationNoted)) and event.ack_due_at:
                escalation = event.escalation_id
                yield Timer(f"{case_id}:escalation:{escalation}", case_id, f"escalation:{escalation}",
                            dt.datetime.fromisoformat(event.ack_due_at))  # fmt: skip
            elif isinstance(event, de.FollowUpScheduled):
                quarter = event.outputs["quarter"]
                yield Timer(f"{case_id}:DSP-FOLLOWUP:{quarter}", case_id, f"followup:{quarter}",
                            dt.datetime.fromisoformat(event.outputs["due_at"]))  # fmt: skip

    # ------------------------------------------------------------------------------- loading

    def case(self, complaint_no: str) -> Case:
        try:
            case: Case = self.repository.get(case_id_for(complaint_no))
        except AggregateNotFoundError:
            raise UnknownComplaint(f"no complaint {complaint_no} known to dispatch") from None
        return case

    def _roster(self) -> Roster | None:
        try:
            roster: Roster = self.repository.get(ROSTER_ID)
        except AggregateNotFoundError:
            return None
        return roster

    def roster(self) -> list[dict[str, Any]]:
        roster = self._roster()
        engineers = [] if roster is None else sorted(roster.engineers.values(), key=lambda e: e.engineer_id)
        return [msgspec.to_builtins(e) for e in engineers]

    # ----------------------------------------------------------------------- intake's events

    def handle_upstream(self, upstream: str, envelopes: Sequence[Envelope], tracking: str | None = None) -> int:
        """Apply intake's events exactly once: each batch is saved with its position (under
        `tracking`, a partition's name, default `upstream`); an envelope at or below the recorded
        position was processed before and changes nothing."""
        recorder = recorder_of(self)
        tracking = tracking or upstream
        done = recorder.tracked(tracking, upstream)
        fresh = [e for e in envelopes if e.position > done]
        if not fresh:
            return 0
        try:
            return self._apply_upstream(upstream, fresh, tracking)
        except IntegrityError:
            pass  # a command or a timer changed one of these cases meanwhile: one by one, reloading
        changed = 0
        for envelope in fresh:
            for _ in range(MAX_RETRIES):
                if envelope.position <= recorder.tracked(tracking, upstream):
                    break
                try:
                    changed += self._apply_upstream(upstream, [envelope], tracking)
                    break
                except IntegrityError:
                    continue
            else:
                # Never skip an upstream event: the batch is nak'ed and comes back (a later one
                # would otherwise move the position past it).
                raise RetryLater(f"{upstream} #{envelope.position} kept conflicting; retrying later")
        return changed

    def _apply_upstream(self, upstream: str, envelopes: Sequence[Envelope], tracking: str) -> int:
        cases: dict[str, Case] = {}
        roster: list[Roster | None] = []
        decoded = [(envelope, c.payload(envelope)) for envelope in envelopes]
        # One query for the batch instead of one failing read per new complaint (bench/PROFILE.md,
        # Dispatch: that read was over half of dispatch's CPU). A case opened meanwhile by another
        # writer makes the save conflict, and handle_upstream then retries one by one.
        received = {
            case_id_for(p.complaint_no): p.complaint_no for _, p in decoded if isinstance(p, c.ComplaintReceived)
        }
        existing = recorder_of(self).existing_aggregates(list(received)) if received else set()
        absent = {no for case_id, no in received.items() if case_id not in existing}

        def load(complaint_no: str) -> Case | None:
            if complaint_no not in cases:
                if complaint_no in absent:
                    return None
                try:
                    cases[complaint_no] = self.repository.get(case_id_for(complaint_no))
                except AggregateNotFoundError:
                    return None
            return cases[complaint_no]

        def roster_of() -> Roster | None:
            if not roster:
                roster.append(self._roster())
            return roster[0]

        changed = 0
        for envelope, p in decoded:
            at, cause_id = envelope.occurred_at, f"{upstream}:{envelope.event_id}"
            if isinstance(p, c.ComplaintReceived):
                if load(p.complaint_no) is None:
                    cases[p.complaint_no] = Case.open(
                        complaint_no=p.complaint_no, received_at=p.received_at, kind=p.kind, agent_id=p.agent_id,
                        customer=p.customer, equipment=p.equipment, site=p.site, causation_id=cause_id,
                    )  # fmt: skip
                    changed += 1
                continue
            case = load(envelope.correlation_id)
            if case is None:
                continue
            if isinstance(p, c.FaultClassified):
                if p.on_site and case.need_on_site(p.actor, p.cause, p.level, p.in_warranty, p.equipment, p.site,
                                                   at, cause_id):  # fmt: skip
                    self._advance(case, roster_of(), at, cause_id)
                    changed += 1
            elif isinstance(p, c.DecisionOutputs) and envelope.type == "PaymentDecided":
                if case.note_payer(p.outputs, at, cause_id):
                    self._advance(case, roster_of(), at, cause_id)
                    changed += 1
            elif isinstance(p, (c.FineLevied, PartFineLevied)):
                changed += case.note_intake_fine(p.fine_id, envelope.rule or "", p.person, p.role, p.department,
                                                 p.amount_fen, at, cause_id, source=upstream)  # fmt: skip
            elif isinstance(p, c.EscalationRaised):
                step = self._step(p.to, at)
                changed += case.note_intake_escalation(p.escalation_id, p.trigger_rule, p.to, step, at, cause_id)
        position = Tracking(tracking, envelopes[-1].position)
        aggregates: list[Case | Roster] = list(cases.values())
        if roster and roster[0] is not None:
            aggregates.append(roster[0])
        self._save(aggregates, position=position)
        return changed

    # ------------------------------------------------------------------------- dispatching

    def _step(self, to: str, at: dt.datetime) -> Decision:
        return decide("ESC-CHAIN", {"to": to, "raised_at": _iso(at)}, self.policy)

    def _advance(self, case: Case, roster: Roster | None, at: dt.datetime, causation_id: str) -> None:
        """DSP-FEE-CONSENT, then DSP-ASSIGN and the dispatch itself once it may go ahead."""
        inputs = case.fee_inputs()
        if inputs is None or case.dispatches:
            return
        if case.fee.decided_on != inputs:
            decision = decide("DSP-FEE-CONSENT", inputs, self.policy)
            case.decide_fee(decision, at, causation_id)
            if decision.outputs["needs_approval_by"]:
                case.escalate("DSP-FEE-CONSENT", self._step("deputy_gm", at), "the customer refused the fee",
                              at, causation_id)  # fmt: skip
        if case.may_dispatch:
            self._dispatch(case, roster, at, causation_id)

    def _dispatch(self, case: Case, roster: Roster | None, at: dt.datetime, causation_id: str) -> str | None:
        roster_rows = [msgspec.to_builtins(e) for e in roster.engineers.values()] if roster is not None else []
        engineers = lightest_candidates(roster_rows)
        inputs = {"region": case.site.region, "model": case.equipment.model, "engineers": engineers,
                  "excluded": sorted(case.excluded)}  # fmt: skip
        # DSP-ARRIVE runs from receipt whether or not an engineer is free: set it before assigning.
        arrive = {"received_at": _iso(case.received_at), "distance_km": case.site.distance_km}
        case.set_deadline(decide("DSP-ARRIVE", arrive, self.policy), at, causation_id)
        engineer_id = case.assign(decide("DSP-ASSIGN", inputs, self.policy), at, causation_id)
        if engineer_id is None:
            return None
        if roster is not None:
            roster.change_load(engineer_id, +1, case.complaint_no, at, causation_id)
        return engineer_id

    # ------------------------------------------------------------------------------ commands

    def execute(self, command: cmd.AnyDispatchCommand, now: dt.datetime, causation_id: str) -> list[str]:
        """Run one staff command at the service clock's `now`; return the events it recorded."""
        allowed = PERMISSIONS[type(command)]
        if command.actor.role not in allowed:
            raise Forbidden(
                f"role {command.actor.role!r} may not {type(command).__name__}; allowed: {', '.join(sorted(allowed))}"
            )
        for attempt in range(MAX_RETRIES):
            try:
                if isinstance(command, cmd.RosterCommand):
                    return self._roster_command(command, now, causation_id)
                return self._case_command(command, now, causation_id)
            except IntegrityError:
                if attempt == MAX_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _roster_command(self, command: cmd.RosterCommand, now: dt.datetime, causation_id: str) -> list[str]:
        actor = Actor(command.actor.id, command.actor.role)
        roster = self._roster() or Roster.open(now, causation_id)
        match command:
            case cmd.RegisterEngineer():
                roster.register(actor, command.engineer_id, command.name, command.region, list(command.skills),
                                command.load, command.available, now, causation_id)  # fmt: skip
            case cmd.UpdateEngineer():
                given = {k: v for k, v in (("region", command.region), ("skills", command.skills),
                         ("load", command.load), ("available", command.available)) if v is not None}  # fmt: skip
                changes = msgspec.convert(given, de.EngineerChanges)
                roster.update(actor, command.engineer_id, changes, now, causation_id)
        return self._save([roster])

    def _case_command(self, command: Any, now: dt.datetime, causation_id: str) -> list[str]:
        case = self.case(command.complaint_no)
        actor = Actor(command.actor.id, command.actor.role)
        roster: Roster | None = None
        p = self.policy
        match command:
            case cmd.RecordFeeConsent(accepted=accepted, fee_fen=fee, plan=plan):
                case.record_consent(actor, accepted, fee, plan, now, causation_id)
                roster = self._roster()
                self._advance(case, roster, now, causation_id)
            case cmd.ApproveDispatch(reason=reason):
                case.approve_dispatch(actor, reason, now, causation_id)
                roster = self._roster()
                self._advance(case, roster, now, causation_id)
            case cmd.AssignEngineer():
                if not case.may_dispatch:
                    raise CommandRejected(f"{case.complaint_no} cannot be dispatched now ({case.status})")
                roster = self._roster()
                if self._dispatch(case, roster, now, causation_id) is None:
                    raise CommandRejected("DSP-ASSIGN: no available engineer with the skill for this product")
            case cmd.ReassignEngineer(reason=reason):
                previous = case.withdraw(actor, reason, now, causation_id)
                roster = self._roster()
                if roster is not None:
                    roster.change_load(previous, -1, case.complaint_no, now, causation_id)
                self._dispatch(case, roster, now, causation_id)
            case cmd.RecordArrival():
                case.arrive(actor, now, causation_id, self._step("branch_manager", now))
            case cmd.SubmitServiceForm():
                self._sign_form(case, actor, command, now, causation_id)
            case cmd.ApproveReturn():
                case.approve_return(actor, now, causation_id)
            case cmd.RecordReturn():
                approved = case.return_approved_at
                approval = decide("DSP-RETURN-APPROVAL", {"approved_at": None if approved is None else _iso(approved),
                                                          "returned_at": _iso(now)}, p)  # fmt: skip
                report = decide("DSP-REPORT-3WD", {"returned_at": _iso(now)}, p)
                engineer_id = case.record_return(actor, approval, report, now, causation_id)
                roster = self._roster()
                if roster is not None:
                    roster.change_load(engineer_id, -1, case.complaint_no, now, causation_id)
            case cmd.FileReport():
                audit = decide("DSP-AUDIT-5WD", {"reported_at": _iso(now)}, p)
                case.file_report(actor, command.summary, command.expense_claim_fen, command.payments_collected_fen,
                                 list(command.returned_materials), audit, now, causation_id)  # fmt: skip
            case cmd.StartAudit(auditor=auditor):
                self._levy_audit_late(case, now, causation_id)  # days already late: the previous auditor's
                case.start_audit(actor, auditor or actor.id, now, causation_id)
            case cmd.ConfirmServiceFault(at_fault=at_fault, ground=ground, finding=finding):
                inputs = {"at_fault": at_fault, "ground": ground, "confirmed_by": actor.id}
                case.decide_service_fault(actor, decide("DSP-SERVICE-FAULT", inputs, p), finding, now, causation_id)
            case cmd.RecordAudit():
                self._levy_audit_late(case, now, causation_id)  # days late not yet fined by the clock
                case.audit(actor, command.quality_confirmed, command.rating_confirmed, command.cost_approved_fen,
                           command.notes, self._step("branch_manager", now), now, causation_id)  # fmt: skip
            case cmd.RecordFollowUp(notes=notes):
                case.record_followup(actor, notes, now, causation_id)
            case cmd.LevyFine():
                self._levy_ranged(case, command, now, causation_id)
            case cmd.DisputeFine(fine_id=fine_id, reason=reason):
                case.dispute_fine(actor, fine_id, reason, now, causation_id)
            case cmd.ReverseFine(fine_id=fine_id, reason=reason):
                case.reverse_fine(actor, fine_id, reason, now, causation_id)
            case cmd.AcknowledgeEscalation(escalation_id=escalation_id, note=note):
                noted = case.escalations.get(escalation_id)
                level = None if noted is None else noted.to
                if level is not None and actor.role not in ACKNOWLEDGERS.get(level, MANAGERS):
                    raise Forbidden(f"an escalation to {level} is acknowledged by "
                                    f"{', '.join(sorted(ACKNOWLEDGERS.get(level, MANAGERS)))}")  # fmt: skip
                case.acknowledge(actor, escalation_id, note, now, causation_id)
        return self._save([case] if roster is None else [case, roster])

    def _sign_form(
        self, case: Case, actor: Actor, form: cmd.SubmitServiceForm, now: dt.datetime, causation_id: str
    ) -> None:
        inputs = {
            "work": form.work, "problem": form.problem, "outcome": form.outcome, "stops_work": form.stops_work,
            "started_at": _iso(form.started_at), "finished_at": _iso(form.finished_at),
            "signed_at": _iso(form.signed_at), "signed_by": form.signed_by, "rating": form.rating,
            "arrived_at": None if case.arrived_at is None else _iso(case.arrived_at),
            "parts": [msgspec.to_builtins(part) for part in form.parts],
        }  # fmt: skip
        case.sign_form(actor, decide("DSP-FORM", inputs, self.policy), now, causation_id)
        followup = decide("DSP-FOLLOWUP", {"served_at": _iso(form.finished_at), "quarter": 1}, self.policy)
        case.schedule_followup(followup, now, causation_id)

    def _levy_ranged(self, case: Case, command: cmd.LevyFine, now: dt.datetime, causation_id: str) -> None:
        if command.rule not in RANGED_FINES:
            raise CommandRejected(f"{command.rule} is not a ranged fine")
        if command.rule == "FIN-RETURN-UNAPPROVED" and not case.left_without_approval:
            raise CommandRejected("FIN-RETURN-UNAPPROVED: the engineer did not leave the site without approval")
        if command.rule == "FIN-FORM-FALSIFIED" and case.form is None:
            raise CommandRejected("FIN-FORM-FALSIFIED: there is no service form on this complaint")
        if case.engineer_id is None:
            raise CommandRejected("no engineer is responsible for this dispatch")
        facts = {"amount_fen": command.amount_fen, "person": case.engineer_id, "role": "engineer",
                 "dispatch_order_no": case.dispatch_order_no, "levied_by": command.actor.id}  # fmt: skip
        decision = decide(command.rule, facts, self.policy)
        if not decision.outputs["within_range"]:
            low, high = decision.outputs["min_fen"], decision.outputs["max_fen"]
            raise CommandRejected(
                f"{command.rule}: {command.amount_fen / 100:.2f} yuan is outside {low / 100:.2f}–{high / 100:.2f}"
            )
        if case.levy_fine(decision, command.reason, case.dispatch_order_no, now, causation_id) is None:
            raise CommandRejected(f"{command.rule} was already levied for {case.dispatch_order_no}")

    def _levy_audit_late(self, case: Case, now: dt.datetime, causation_id: str, up_to: int | None = None) -> None:
        """FIN-AUDIT-LATE: one fine per working day the audit is late, each exactly once."""
        deadline = case.deadlines.get("DSP-AUDIT-5WD")
        if deadline is None or case.audited_at is not None:
            return
        due = deadline.due
        days = working_days_late(self.policy.calendar, due, now, self.policy.working_hours) if up_to is None else up_to
        for day in range(1, days + 1):
            facts = {"due_at": deadline.due_at, "day": day, "auditor": case.auditor,
                     "classified_by": case.classified_by}  # fmt: skip
            decision = decide("FIN-AUDIT-LATE", facts, self.policy)
            case.levy_fine(decision, f"{missed('DSP-AUDIT-5WD', deadline.due_at)}: working day {day} late",
                           day, now, causation_id)  # fmt: skip

    # ------------------------------------------------------------------------------ clock

    def calendar_published(self, schedule: YearSchedule) -> bool:
        """A published year reached this process (docs/rules.md §9): later decisions use it."""
        if not self.calendars.publish(schedule):
            return False
        self.policy = with_calendar(self.policy, self.calendars.current())
        return True

    def fire_due(self, now: dt.datetime, limit: int = 500) -> int:
        """Fire every timer the clock has passed, each exactly once (also the ones a firing
        schedules, e.g. the next day's FIN-AUDIT-LATE); return how many fired. A failing timer is
        parked with its reason and the others fire (`shared/runtime/timers.py`)."""
        causation_id = f"clock:{_iso(now)}"

        def fire(case: Case, timer: Timer) -> None:
            self._on_timer(case, timer, now, causation_id)

        return fire_due_timers("dispatch", recorder_of(self), now, self.repository.get, fire, self._save, limit)

    def _on_timer(self, case: Case, timer: Timer, now: dt.datetime, causation_id: str) -> None:
        kind, _, detail = timer.kind.partition(":")
        if kind == "deadline":
            step = self._step("branch_manager", now) if detail in ESCALATED_DEADLINES else None
            case.breach(detail, now, causation_id, step)
        elif kind == "audit-late":
            self._levy_audit_late(case, now, causation_id, up_to=int(detail))
        elif kind == "escalation":
            escalation = case.escalations.get(detail)
            if escalation is not None:
                case.forward(detail, decide("ESC-CHAIN", {"to": escalation.to, "raised_at": _iso(now)},
                                            self.policy), now, causation_id)  # fmt: skip
        elif kind == "followup":
            quarter = int(detail)
            if case.followup_due(quarter, now, causation_id) and case.form is not None:
                decision = decide("DSP-FOLLOWUP", {"served_at": case.form.finished_at, "quarter": quarter + 1},
                                  self.policy)  # fmt: skip
                count = self.policy.followup_count
                if count is None or quarter < count:  # DSP-FOLLOWUP: the horizon is policy data
                    case.schedule_followup(decision, now, causation_id)
