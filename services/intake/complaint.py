"""The complaint (投诉): registration, deadlines, fines, escalations, staff commands, warranty, surveys.

Pure: no I/O, no clock. Time and rule outcomes come in as values (`Decision`s computed by policy), and
every event records the decisions it carries, so history can be replayed and re-checked. Events are
the Structs of `shared.events` (one definition per event); deadlines run on the shared engine
(`shared.domain.deadlines`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from services.intake.identity import CommandRejected, complaint_id_for, derived_id
from services.intake.state import FineRecord, Repair, Survey, Warranty
from shared.domain.aggregate import applies
from shared.domain.deadline_keeping import KeepsDeadlines
from shared.domain.deadlines import Breach, Deadlines
from shared.domain.org import department_of
from shared.events import common_events as ce
from shared.events import intake_events as ie
from shared.events.base import DecisionEvent
from shared.events.decisions import Actor, Decision
from shared.events.values import CustomerInfo, EquipmentInfo, FieldValue, SiteInfo

SATISFIED_RATING = 4
ESCALATED_DEADLINES = frozenset({"INT-RELAY-4WH", "INT-REPLY-8WH", "INT-LEVELS"})
"""Deadline rules whose breach escalates to the branch manager (docs/rules.md §4 escalations)."""
_GROUPS = {"customer": CustomerInfo, "equipment": EquipmentInfo, "site": SiteInfo}


class Complaint(KeepsDeadlines):
    complaint_no: str
    call_id: str
    received_at: dt.datetime
    kind: str
    agent_id: str | None
    customer: CustomerInfo
    equipment: EquipmentInfo
    site: SiteInfo
    description: str | None
    record_incomplete: bool
    missing_fields: list[str]
    missing_at_receipt: list[str]  # FIN-RECORD-INCOMPLETE: was the record incomplete?
    status: str
    relayed_at: dt.datetime | None
    cause: str | None
    level: int | None
    on_site: bool | None
    deadlines: Deadlines
    warranty: Warranty
    payer: dict[str, Any] | None  # WAR-PAYER's outputs as decided
    repairs: list[Repair]
    fines: list[str]
    fine_records: dict[str, FineRecord]
    first_contact_at: dt.datetime | None
    escalations: list[str]
    surveys: list[Survey]
    replacement: bool

    @property
    def correlation_id(self) -> str:
        return self.complaint_no

    # ------------------------------------------------------------------ registration (INT-REGISTER)
    @classmethod
    def receive(
        cls, *, complaint_no: str, call_id: str, received_at: dt.datetime, kind: str, agent_id: str | None,
        customer: CustomerInfo, equipment: EquipmentInfo, site: SiteInfo, description: str | None,
        missing_fields: list[str], decisions: list[Decision], causation_id: str,
    ) -> Complaint:  # fmt: skip
        """Registered under its register number, with the decisions taken at receipt (relay and reply
        deadlines, first response for a consultation, warranty)."""
        return cls._open(ie.ComplaintReceived, complaint_id_for(call_id), received_at, complaint_no, causation_id,
                         complaint_no=complaint_no, call_id=call_id, received_at=received_at, kind=kind,
                         agent_id=agent_id, customer=customer, equipment=equipment, site=site,
                         description=description, record_incomplete=bool(missing_fields),
                         missing_fields=missing_fields, decisions=[d.as_record() for d in decisions])  # fmt: skip

    @applies(ie.ComplaintReceived)
    def _received(self, e: ie.ComplaintReceived) -> None:
        self.complaint_no, self.call_id, self.received_at, self.kind = e.complaint_no, e.call_id, e.received_at, e.kind
        self.agent_id, self.customer, self.equipment, self.site = e.agent_id, e.customer, e.equipment, e.site
        self.description, self.record_incomplete = e.description, e.record_incomplete
        self.missing_fields, self.missing_at_receipt = list(e.missing_fields), list(e.missing_fields)
        self.status, self.relayed_at, self.cause, self.level, self.on_site = "registered", None, None, None, None
        self.deadlines, self.warranty, self.payer = Deadlines(), Warranty(), None
        self.repairs, self.fines, self.fine_records, self.escalations, self.surveys = [], [], {}, [], []
        self.first_contact_at, self.replacement = None, False
        for record in e.decisions:
            rule, outputs = record["rule"], record["outputs"]
            if rule == "WAR-PERIOD":
                self.warranty = msgspec.structs.replace(
                    self.warranty, in_warranty=outputs["in_warranty"], until=outputs["until"]
                )
            elif "due_at" in outputs:
                self.deadlines = self.deadlines.set(rule, outputs)

    def _decide(self, event_class: type[DecisionEvent], decision: Decision, at: dt.datetime, causation_id: str,
                **fields: Any) -> None:  # fmt: skip
        self._trigger(event_class, at, causation_id, rule=decision.rule, policy_version=decision.policy_version,
                      inputs=decision.inputs, outputs=decision.outputs, **fields)  # fmt: skip

    # ------------------------------------------------------------------------------- deadlines
    # (the deadline events are applied by KeepsDeadlines, the same for every service)
    def set_deadline(self, decision: Decision, at: dt.datetime, causation_id: str) -> None:
        self._decide(ce.DeadlineSet, decision, at, causation_id)

    def breach_escalates_to(self, rule: str) -> str | None:
        """Whom a breach of `rule` goes to (docs/rules.md §4): as its decision recorded it (INT-LEVELS
        from intake-2026.2: nobody more for a level-1 fault, already with management), else the
        branch manager for the deadlines of ESCALATED_DEADLINES."""
        deadline = self.deadlines.get(rule)
        if deadline is not None and deadline.on_breach_escalate_to is not msgspec.UNSET:
            return deadline.on_breach_escalate_to
        return "branch_manager" if rule in ESCALATED_DEADLINES else None

    def _met_only_by_contact(self, rule: str) -> bool:
        deadline = self.deadlines.get(rule)
        return deadline is not None and deadline.met_by == "customer_contact"

    def _meet(self, rule: str, at: dt.datetime, causation_id: str, met_at: dt.datetime | None = None) -> None:
        """Meet `rule`'s deadline, recorded at `at`; `met_at` when it was met earlier (default `at`). A
        late deadline is breached before acting (`IntakeApplication._settle_overdue`), so the engine's
        breach-on-late-meeting never happens here; should it, it is recorded with its escalation."""
        breach, met = self.deadlines.meet(rule, at, met_at)
        if breach is not None:
            self._record_breach(breach, causation_id, None, self.breach_escalates_to(rule))
        if met is not None:
            self._trigger(ce.DeadlineMet, at, causation_id, deadline=met.deadline, met_at=met.met_at, late=met.late)

    def breach(
        self, rule: str, now: dt.datetime, causation_id: str, fine: Decision | None, escalate_to: str | None
    ) -> bool:
        """The clock passed an open deadline: record the breach and its consequences, once."""
        breach = self.deadlines.breach(rule, now)
        if breach is None:
            return False
        self._record_breach(breach, causation_id, fine, escalate_to)
        return True

    def _record_breach(self, breach: Breach, causation_id: str, fine: Decision | None, escalate_to: str | None) -> None:
        at = breach.breached_at
        self._trigger(ce.DeadlineBreached, at, causation_id, deadline=breach.deadline, due_at=breach.due_at,
                      breached_at=at)  # fmt: skip
        if fine is not None:
            self.levy_fine(fine, at, causation_id, reason=breach.reason)
        if escalate_to is not None:
            self.escalate(breach.deadline, escalate_to, breach.reason, at, causation_id)

    # ------------------------------------------------------------------------ fines, escalations
    @applies(ce.FineLevied)
    def _fine_levied(self, e: ce.FineLevied) -> None:
        self.fines.append(e.fine_id)
        self.fine_records[e.fine_id] = FineRecord(e.rule, e.person)

    @applies(ce.FineAttributed)
    def _fine_attributed(self, e: ce.FineAttributed) -> None:
        self.fine_records[e.fine_id] = msgspec.structs.replace(self.fine_records[e.fine_id], person=e.person)

    @applies(ce.EscalationRaised)
    def _escalation_raised(self, e: ce.EscalationRaised) -> None:
        self.escalations.append(e.escalation_id)

    def fines_under(self, rule: str) -> int:
        return sum(1 for record in self.fine_records.values() if record.rule == rule)

    def levy_fine(self, decision: Decision, at: dt.datetime, causation_id: str, reason: str) -> str:
        if decision.outputs.get("levy") is False:
            raise CommandRejected(str(decision.outputs.get("refused") or f"{decision.rule} does not apply"))
        # A rule levied at most once per record (FIN-RECORD-INCOMPLETE from intake-2026.2) has one id per record.
        once = "levy" in decision.outputs
        fine_id = derived_id(self.id, decision.rule, "record" if once else len(self.fines))
        if fine_id in self.fine_records:
            raise CommandRejected(f"{decision.rule} was already levied on {self.complaint_no}")
        role = decision.outputs["role"]
        self._decide(ce.FineLevied, decision, at, causation_id, fine_id=fine_id, person=decision.outputs["person"],
                     role=role, department=department_of(role), amount_fen=decision.outputs["amount_fen"],
                     reason=reason)  # fmt: skip
        return fine_id

    def attribute_fine(
        self, actor: Actor, fine_id: str, person: str, role: str, reason: str, at: dt.datetime, causation_id: str
    ) -> None:
        """docs/rules.md §9: the branch manager names the person of an unattributed fine, once."""
        record = self.fine_records.get(fine_id)
        if record is None:
            raise CommandRejected(f"no fine {fine_id} on {self.complaint_no}")
        if record.person:
            raise CommandRejected(f"fine {fine_id} is already charged to {record.person}")
        self._trigger(ce.FineAttributed, at, causation_id, fine_id=fine_id, fine_rule=record.rule, person=person,
                      role=role, department=department_of(role), actor=actor.id, reason=reason)  # fmt: skip

    def escalate(self, trigger_rule: str, to: str, reason: str, at: dt.datetime, causation_id: str) -> None:
        escalation_id = derived_id(self.id, "escalation", trigger_rule, to)
        if escalation_id in self.escalations:
            return
        self._trigger(ce.EscalationRaised, at, causation_id, escalation_id=escalation_id, trigger_rule=trigger_rule,
                      to=to, reason=reason)  # fmt: skip

    # ------------------------------------------------------------------------- staff commands
    @applies(ie.ComplaintRelayed)
    def _relayed(self, e: ie.ComplaintRelayed) -> None:
        self.relayed_at = e.relayed_at
        if self.status == "registered":
            self.status = "relayed"

    def relay(self, actor: Actor, at: dt.datetime, causation_id: str) -> None:
        """INT-RELAY-4WH: relayed to the technical-quality department (技质部)."""
        self._require_open()
        if self.relayed_at is not None:
            raise CommandRejected(f"{self.complaint_no} was already relayed at {self.relayed_at.isoformat()}")
        self._trigger(ie.ComplaintRelayed, at, causation_id, actor=actor.id, relayed_at=at)
        self._meet("INT-RELAY-4WH", at, causation_id)

    @applies(ie.RecordCompleted)
    def _record_completed(self, e: ie.RecordCompleted) -> None:
        for name, value in e.fields.items():
            group, _, key = name.partition(".")
            if key and group in _GROUPS:
                current = getattr(self, group)
                values = {**msgspec.structs.asdict(current), key: value}
                setattr(self, group, msgspec.convert(values, type(current), strict=False))
            else:
                setattr(self, name, value)
        self.missing_fields = list(e.missing_fields)
        self.record_incomplete = bool(e.missing_fields)

    def complete_record(
        self, actor: Actor, fields: dict[str, Any], missing_after: list[str], at: dt.datetime, causation_id: str
    ) -> None:
        """INT-REQUIRED: the receiver completed the record."""
        self._require_open()
        if not fields:
            raise CommandRejected("nothing to complete: give at least one field")
        try:
            values = msgspec.convert(fields, dict[str, FieldValue])
        except msgspec.ValidationError as exc:
            raise CommandRejected(f"a record field is a text, a number or empty: {exc}") from None
        self._trigger(ie.RecordCompleted, at, causation_id, actor=actor.id, fields=values, missing_fields=missing_after)

    @applies(ie.FaultClassified)
    def _classified(self, e: ie.FaultClassified) -> None:
        self.cause, self.level, self.on_site = e.cause, e.level, e.on_site
        if self.status in ("registered", "relayed"):
            self.status = "classified"

    def classify(
        self, actor: Actor, cause: str, level: int, on_site: bool, at: dt.datetime, causation_id: str,
        first_response: Decision | None,
    ) -> None:  # fmt: skip
        """INT-CLASSIFY: cause, severity level, whether on-site service is needed."""
        self._require_open()
        if self.kind != "fault":
            raise CommandRejected("a consultation is answered, not classified")
        self._trigger(ie.FaultClassified, at, causation_id, actor=actor.id, cause=cause, level=level, on_site=on_site,
                      equipment=self.equipment, site=self.site, in_warranty=self.warranty.in_warranty,
                      warranty_until=self.warranty.until)  # fmt: skip
        if first_response is not None:
            self.set_deadline(first_response, at, causation_id)
            if first_response.outputs.get("escalate_to_management"):
                self.escalate("INT-LEVELS", "management", "level 1 fault: system down", at, causation_id)
            if self.first_contact_at is not None and self._met_only_by_contact("INT-LEVELS"):
                self._meet("INT-LEVELS", at, causation_id, met_at=self.first_contact_at)  # contacted before

    @applies(ie.FirstContactRecorded)
    def _contacted(self, e: ie.FirstContactRecorded) -> None:
        self.first_contact_at = e.contacted_at

    def record_first_contact(
        self, actor: Actor, channel: str, agreed: str, visit_at: dt.datetime | None, at: dt.datetime,
        causation_id: str,
    ) -> None:  # fmt: skip
        """INT-LEVELS first response (docs/rules.md §9): a recorded contact with the customer — who,
        when, by which channel, what was agreed (e.g. the time of the visit)."""
        self._require_open()
        if self.first_contact_at is not None:
            raise CommandRejected(f"the first contact with the customer was recorded at {self.first_contact_at}")
        if visit_at is not None and visit_at < at:
            raise CommandRejected("the agreed visit time is before the contact")
        self._trigger(ie.FirstContactRecorded, at, causation_id, actor=actor.id, role=actor.role, channel=channel,
                      agreed=agreed, visit_at=visit_at, contacted_at=at)  # fmt: skip
        self._meet("INT-LEVELS", at, causation_id)

    @applies(ie.ConsultationAnswered)
    def _answered(self, e: ie.ConsultationAnswered) -> None:
        self.status = "answered"

    def answer(self, actor: Actor, answer: str, at: dt.datetime, causation_id: str) -> None:
        """INT-REPLY-8WH: a consultation answered."""
        self._require_open()
        if self.kind != "consultation":
            raise CommandRejected("a fault gets a solution, not an answer")
        self._trigger(ie.ConsultationAnswered, at, causation_id, actor=actor.id, answer=answer)
        self._meet("INT-REPLY-8WH", at, causation_id)
        self._meet("INT-LEVELS", at, causation_id)  # an answer is itself a contact with the customer

    @applies(ie.SolutionDecided)
    def _solution_decided(self, e: ie.SolutionDecided) -> None:
        self.status = "solution_decided"

    def decide_solution(
        self, actor: Actor, solution: str, expected_repair_hours: float, at: dt.datetime, causation_id: str,
        loaner: Decision,
    ) -> None:  # fmt: skip
        """INT-REPLY-8WH: a fault's solution decided; WAR-LOANER: a free loaner unit while a long repair runs."""
        self._require_open()
        if self.kind != "fault":
            raise CommandRejected("a consultation is answered, not given a solution")
        if self.cause is None:
            raise CommandRejected("classify the fault before deciding its solution")
        self._trigger(ie.SolutionDecided, at, causation_id, actor=actor.id, solution=solution,
                      expected_repair_hours=expected_repair_hours)  # fmt: skip
        self._meet("INT-REPLY-8WH", at, causation_id)
        if not self._met_only_by_contact("INT-LEVELS"):
            self._meet("INT-LEVELS", at, causation_id)  # intake-2026.1; deciding is no contact (§9)
        if loaner.outputs["loaner"] and self.warranty.in_warranty:
            self._decide(ie.LoanerDecided, loaner, at, causation_id)
            repair_deadline = Decision("WAR-LOANER", loaner.policy_version, loaner.inputs,
                                       {**loaner.outputs, "due_at": loaner.outputs["repair_due_at"]})  # fmt: skip
            self.set_deadline(repair_deadline, at, causation_id)

    # ---------------------------------------------------------------------------- warranty
    @applies(ie.WarrantyDecided)
    def _warranty_decided(self, e: ie.WarrantyDecided) -> None:
        self.warranty = Warranty(e.outputs["in_warranty"], e.outputs["until"], int(e.inputs.get("extension_days", 0)))

    def decide_warranty(self, decision: Decision, at: dt.datetime, causation_id: str) -> bool:
        """WAR-PERIOD (re)decided: on a completed acceptance date or an extension; False if unchanged."""
        new = Warranty(decision.outputs["in_warranty"], decision.outputs["until"],
                       int(decision.inputs.get("extension_days", 0)))  # fmt: skip
        if self.warranty == new:
            return False
        self._decide(ie.WarrantyDecided, decision, at, causation_id)
        return True

    @applies(ie.PaymentDecided)
    def _payment_decided(self, e: ie.PaymentDecided) -> None:
        self.payer = dict(e.outputs)

    def decide_payer(self, decision: Decision, at: dt.datetime, causation_id: str) -> None:
        """WAR-FREE / WAR-MISUSE / WAR-OUT: who pays; a customer-paid service needs fee consent."""
        if self.payer == decision.outputs:
            return
        self._decide(ie.PaymentDecided, decision, at, causation_id)

    def schedule_expiry_notice(self, decision: Decision, at: dt.datetime, causation_id: str) -> None:
        self._decide(ie.ExpiryNoticeScheduled, decision, at, causation_id)

    def notice_expiry(self, until: str, now: dt.datetime, causation_id: str) -> bool:
        """WAR-EXPIRY-NOTICE: write to the customer about renewal, 10 days before expiry."""
        if self.warranty.until != until:
            return False  # extended meanwhile: a later notice was scheduled for the new date
        self._trigger(ie.WarrantyExpiryNoticeDue, now, causation_id, until=until, customer=self.customer,
                      serial=self.equipment.serial)  # fmt: skip
        return True

    @applies(ie.RepairRecorded)
    def _repair_recorded(self, e: ie.RepairRecorded) -> None:
        self.repairs.append(Repair(e.problem, e.outcome, e.stops_work))

    @applies(ie.ReplacementDecided)
    def _replacement_decided(self, e: ie.ReplacementDecided) -> None:
        self.replacement = True

    def record_repair(
        self, actor: Actor, problem: str, outcome: str, stops_work: bool, at: dt.datetime, causation_id: str,
        extension: Decision, lemon: Decision,
    ) -> None:  # fmt: skip
        """A repair attempt's outcome; WAR-EXTEND-60D, WAR-LEMON (replaced free by a new unit)."""
        self._require_open()
        self._trigger(ie.RepairRecorded, at, causation_id, actor=actor.id, problem=problem, outcome=outcome,
                      stops_work=stops_work)  # fmt: skip
        if outcome == "fixed":
            self._meet("WAR-LOANER", at, causation_id)
        if extension.outputs["extend"]:
            self._decide(ie.WarrantyExtended, extension, at, causation_id)
        if lemon.outputs["replace"] and not self.replacement:
            self._decide(ie.ReplacementDecided, lemon, at, causation_id)
            self.escalate("WAR-LEMON", "management", f"replacement after repeated failed repairs of {problem}",
                          at, causation_id)  # fmt: skip

    # ------------------------------------------------------------------------------- closing
    @applies(ie.ComplaintClosed)
    def _closed(self, e: ie.ComplaintClosed) -> None:
        self.status = "closed"

    def close(self, actor: Actor, outcome: str, at: dt.datetime, causation_id: str) -> None:
        self._require_open()
        self._trigger(ie.ComplaintClosed, at, causation_id, actor=actor.id, outcome=outcome)

    def _require_open(self) -> None:
        if self.status == "closed":
            raise CommandRejected(f"{self.complaint_no} is closed")

    # ------------------------------------------------------------------------------ surveys
    @applies(ie.SurveyRecorded)
    def _survey_recorded(self, e: ie.SurveyRecorded) -> None:
        self.surveys.append(Survey(e.rating, e.satisfied))

    def record_survey(self, *, survey_call_id: str, rating: int, completed_at: dt.datetime, causation_id: str) -> None:
        """Satisfaction (docs/contract.md §1): a rating of 4 or 5 counts as satisfied."""
        self._trigger(ie.SurveyRecorded, completed_at, causation_id, survey_call_id=survey_call_id, rating=rating,
                      satisfied=rating >= SATISFIED_RATING, completed_at=completed_at)  # fmt: skip
