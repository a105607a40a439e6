"""Intake's aggregates: the complaint (投诉) and the equipment's warranty history.

Pure: no I/O, no clock. Time and rule outcomes come in as values (`Decision`s computed by policy),
and every event records the decisions it carries, so history can be replayed and re-checked.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, ClassVar

from eventsourcing.domain import Aggregate

from shared.events.decisions import Actor, Decision

CALL_NAMESPACE = uuid.UUID("0f6f1f0e-2b1d-4a0c-9a55-9d7b8e1c4d21")
EQUIPMENT_NAMESPACE = uuid.UUID("7d3c4a63-3b5a-4f0e-8c43-2d3f7b9a6e10")
SATISFIED_RATING = 4

# Deadline rules whose breach escalates to the branch manager (docs/rules.md §4 escalations).
ESCALATED_DEADLINES = frozenset({"INT-RELAY-4WH", "INT-REPLY-8WH", "INT-LEVELS"})


class CommandRejected(ValueError):
    """The command does not fit the complaint's state; nothing was recorded."""


def complaint_id_for(call_id: str) -> uuid.UUID:
    """INT-DEDUP: one telephony call is one complaint, so the call id *is* the aggregate identity."""
    return uuid.uuid5(CALL_NAMESPACE, call_id)


def equipment_id_for(serial: str) -> uuid.UUID:
    return uuid.uuid5(EQUIPMENT_NAMESPACE, serial.strip().upper())


def _uuid(namespace: uuid.UUID, *parts: object) -> str:
    return str(uuid.uuid5(namespace, ":".join(str(p) for p in parts)))


def _deadline_state(outputs: dict[str, Any], previous: dict[str, Any]) -> dict[str, Any]:
    """A deadline as its decision set it; what met or breached it before stays."""
    state = {"due_at": outputs["due_at"], "met_at": previous.get("met_at"), "breached_at": previous.get("breached_at")}
    for key in ("met_by", "on_breach_escalate_to"):  # INT-LEVELS from intake-2026.2
        if key in outputs:
            state[key] = outputs[key]
    return state


class Complaint(Aggregate):
    # ------------------------------------------------------------------ registration (INT-REGISTER)
    class Received(Aggregate.Created):
        """Registered under its register number, with the decisions taken at receipt
        (relay and reply deadlines, first response for a consultation, warranty)."""

        wire_type: ClassVar[str] = "ComplaintReceived"
        complaint_no: str
        call_id: str
        received_at: dt.datetime
        kind: str
        agent_id: str | None
        customer: dict[str, Any]
        equipment: dict[str, Any]
        site: dict[str, Any]
        description: str | None
        record_incomplete: bool
        missing_fields: list[str]
        decisions: list[dict[str, Any]]
        correlation_id: str
        causation_id: str

    def __init__(
        self,
        complaint_no: str,
        call_id: str,
        received_at: dt.datetime,
        kind: str,
        agent_id: str | None,
        customer: dict[str, Any],
        equipment: dict[str, Any],
        site: dict[str, Any],
        description: str | None,
        record_incomplete: bool,
        missing_fields: list[str],
        decisions: list[dict[str, Any]],
        correlation_id: str,
        causation_id: str,
    ) -> None:
        self.complaint_no = complaint_no
        self.call_id = call_id
        self.received_at = received_at
        self.kind = kind
        self.agent_id = agent_id
        self.customer = customer
        self.equipment = equipment
        self.site = site
        self.description = description
        self.record_incomplete = record_incomplete
        self.missing_fields = missing_fields
        self.missing_at_receipt = list(missing_fields)  # FIN-RECORD-INCOMPLETE: was the record incomplete?
        self.status = "registered"
        self.relayed_at: dt.datetime | None = None
        self.cause: str | None = None
        self.level: int | None = None
        self.on_site: bool | None = None
        self.deadlines: dict[str, dict[str, Any]] = {}
        self.warranty: dict[str, Any] = {"in_warranty": None, "until": None, "extension_days": 0}
        self.payer: dict[str, Any] | None = None
        self.repairs: list[dict[str, Any]] = []
        self.fines: list[str] = []
        self.fine_records: dict[str, dict[str, Any]] = {}  # fine_id → rule, person (None: unattributed)
        self.first_contact_at: dt.datetime | None = None
        self.escalations: list[str] = []
        self.surveys: list[dict[str, Any]] = []
        self.replacement = False
        for record in decisions:
            self._apply_decision(record, received_at)

    def _apply_decision(self, record: dict[str, Any], at: dt.datetime) -> None:
        rule, outputs = record["rule"], record["outputs"]
        if rule == "WAR-PERIOD":
            self.warranty = {**self.warranty, "in_warranty": outputs["in_warranty"], "until": outputs["until"]}
        elif "due_at" in outputs:
            self.deadlines[rule] = _deadline_state(outputs, {})

    @classmethod
    def receive(
        cls,
        *,
        complaint_no: str,
        call_id: str,
        received_at: dt.datetime,
        kind: str,
        agent_id: str | None,
        customer: dict[str, Any],
        equipment: dict[str, Any],
        site: dict[str, Any],
        description: str | None,
        missing_fields: list[str],
        decisions: list[Decision],
        causation_id: str,
    ) -> Complaint:
        return cls._create(
            cls.Received,
            id=complaint_id_for(call_id),
            timestamp=received_at,
            complaint_no=complaint_no,
            call_id=call_id,
            received_at=received_at,
            kind=kind,
            agent_id=agent_id,
            customer=customer,
            equipment=equipment,
            site=site,
            description=description,
            record_incomplete=bool(missing_fields),
            missing_fields=missing_fields,
            decisions=[d.as_record() for d in decisions],
            correlation_id=complaint_no,
            causation_id=causation_id,
        )

    # ------------------------------------------------------------------------------ base events
    class Event(Aggregate.Event):
        correlation_id: str
        causation_id: str

    class DecisionEvent(Event):
        rule: str
        policy_version: str
        inputs: dict[str, Any]
        outputs: dict[str, Any]

    def _trigger(self, event_class: type[Aggregate.Event], at: dt.datetime, causation_id: str, **fields: Any) -> None:
        self.trigger_event(
            event_class, timestamp=at, correlation_id=self.complaint_no, causation_id=causation_id, **fields
        )

    def _trigger_decision(
        self, event_class: type[DecisionEvent], decision: Decision, at: dt.datetime, causation_id: str, **fields: Any
    ) -> None:
        self._trigger(
            event_class,
            at,
            causation_id,
            rule=decision.rule,
            policy_version=decision.policy_version,
            inputs=decision.inputs,
            outputs=decision.outputs,
            **fields,
        )

    # ------------------------------------------------------------------------------- deadlines
    class DeadlineSet(DecisionEvent):
        wire_type: ClassVar[str] = "DeadlineSet"

        def apply(self, aggregate: Complaint) -> None:
            aggregate.deadlines[self.rule] = _deadline_state(self.outputs, aggregate.deadlines.get(self.rule, {}))

    class DeadlineMet(Event):
        wire_type: ClassVar[str] = "DeadlineMet"
        deadline: str
        met_at: dt.datetime
        late: bool

        def apply(self, aggregate: Complaint) -> None:
            aggregate.deadlines[self.deadline]["met_at"] = self.met_at.isoformat()

    class DeadlineBreached(Event):
        wire_type: ClassVar[str] = "DeadlineBreached"
        deadline: str
        due_at: str
        breached_at: dt.datetime

        def apply(self, aggregate: Complaint) -> None:
            aggregate.deadlines[self.deadline]["breached_at"] = self.breached_at.isoformat()

    def set_deadline(self, decision: Decision, at: dt.datetime, causation_id: str) -> None:
        self._trigger_decision(self.DeadlineSet, decision, at, causation_id)

    def breach_escalates_to(self, rule: str) -> str | None:
        """Whom a breach of `rule` goes to (docs/rules.md §4): as its decision recorded it (INT-LEVELS
        from intake-2026.2: nobody more for a level-1 fault, already with management), else the
        branch manager for the deadlines of ESCALATED_DEADLINES."""
        deadline = self.deadlines.get(rule, {})
        if "on_breach_escalate_to" in deadline:
            escalate_to: str | None = deadline["on_breach_escalate_to"]
            return escalate_to
        return "branch_manager" if rule in ESCALATED_DEADLINES else None

    def _met_only_by_contact(self, rule: str) -> bool:
        return self.deadlines.get(rule, {}).get("met_by") == "customer_contact"

    def deadline_open(self, rule: str) -> bool:
        deadline = self.deadlines.get(rule)
        return deadline is not None and deadline["met_at"] is None and deadline["breached_at"] is None

    def _meet(self, rule: str, at: dt.datetime, causation_id: str, met_at: dt.datetime | None = None) -> None:
        """Meet `rule`'s deadline, recorded at `at`; `met_at` when it was met earlier (default `at`)."""
        deadline = self.deadlines.get(rule)
        if deadline is None or deadline["met_at"] is not None:
            return
        met_at = met_at or at
        late = deadline["breached_at"] is not None or met_at > dt.datetime.fromisoformat(deadline["due_at"])
        self._trigger(self.DeadlineMet, at, causation_id, deadline=rule, met_at=met_at, late=late)

    def breach(
        self, rule: str, now: dt.datetime, causation_id: str, fine: Decision | None, escalate_to: str | None
    ) -> bool:
        """The clock passed an open deadline: record the breach and its consequences, once."""
        if not self.deadline_open(rule):
            return False
        due_at = self.deadlines[rule]["due_at"]
        if now <= dt.datetime.fromisoformat(due_at):  # the due minute itself is still in time
            return False
        self._trigger(self.DeadlineBreached, now, causation_id, deadline=rule, due_at=due_at, breached_at=now)
        if fine is not None:
            self.levy_fine(fine, now, causation_id, reason=f"{rule} missed (due {due_at})")
        if escalate_to is not None:
            self.escalate(rule, escalate_to, f"{rule} missed (due {due_at})", now, causation_id)
        return True

    # ------------------------------------------------------------------------ fines, escalations
    class FineLevied(DecisionEvent):
        """A decision about a person (docs/rules.md §4): rule, amount, the facts that triggered it."""

        wire_type: ClassVar[str] = "FineLevied"
        fine_id: str
        person: str | None
        role: str
        department: str
        amount_fen: int
        reason: str

        def apply(self, aggregate: Complaint) -> None:
            aggregate.fines.append(self.fine_id)
            aggregate.fine_records[self.fine_id] = {"rule": self.rule, "person": self.person}

    class FineAttributed(Event):
        """An unattributed fine (no person known when it was levied) attributed by the branch
        manager (docs/rules.md §9); the FineLevied stays as it was."""

        wire_type: ClassVar[str] = "FineAttributed"
        fine_id: str
        fine_rule: str
        person: str
        role: str
        department: str
        actor: str
        reason: str

        def apply(self, aggregate: Complaint) -> None:
            aggregate.fine_records[self.fine_id]["person"] = self.person

    class EscalationRaised(Event):
        wire_type: ClassVar[str] = "EscalationRaised"
        escalation_id: str
        trigger_rule: str
        to: str
        reason: str

        def apply(self, aggregate: Complaint) -> None:
            aggregate.escalations.append(self.escalation_id)

    def fines_under(self, rule: str) -> int:
        return sum(1 for record in self.fine_records.values() if record["rule"] == rule)

    def levy_fine(self, decision: Decision, at: dt.datetime, causation_id: str, reason: str) -> str:
        if decision.outputs.get("levy") is False:
            raise CommandRejected(str(decision.outputs.get("refused") or f"{decision.rule} does not apply"))
        # A rule levied at most once per record (FIN-RECORD-INCOMPLETE from intake-2026.2) has one id per record.
        once = "levy" in decision.outputs
        fine_id = _uuid(self.id, decision.rule, "record") if once else _uuid(self.id, decision.rule, len(self.fines))
        if fine_id in self.fine_records:
            raise CommandRejected(f"{decision.rule} was already levied on {self.complaint_no}")
        self._trigger_decision(
            self.FineLevied,
            decision,
            at,
            causation_id,
            fine_id=fine_id,
            person=decision.outputs["person"],
            role=decision.outputs["role"],
            department=DEPARTMENTS.get(decision.outputs["role"], decision.outputs["role"]),
            amount_fen=decision.outputs["amount_fen"],
            reason=reason,
        )
        return fine_id

    def attribute_fine(
        self, actor: Actor, fine_id: str, person: str, role: str, reason: str, at: dt.datetime, causation_id: str
    ) -> None:
        """docs/rules.md §9: the branch manager names the person of an unattributed fine, once."""
        record = self.fine_records.get(fine_id)
        if record is None:
            raise CommandRejected(f"no fine {fine_id} on {self.complaint_no}")
        if record["person"]:
            raise CommandRejected(f"fine {fine_id} is already charged to {record['person']}")
        self._trigger(self.FineAttributed, at, causation_id, fine_id=fine_id, fine_rule=record["rule"], person=person,
                      role=role, department=DEPARTMENTS.get(role, role), actor=actor.id, reason=reason)  # fmt: skip

    def escalate(self, trigger_rule: str, to: str, reason: str, at: dt.datetime, causation_id: str) -> None:
        escalation_id = _uuid(self.id, "escalation", trigger_rule, to)
        if escalation_id in self.escalations:
            return
        self._trigger(self.EscalationRaised, at, causation_id, escalation_id=escalation_id, trigger_rule=trigger_rule,
                      to=to, reason=reason)  # fmt: skip

    # ------------------------------------------------------------------------- staff commands
    class Relayed(Event):
        """INT-RELAY-4WH: relayed to the technical-quality department (技质部)."""

        wire_type: ClassVar[str] = "ComplaintRelayed"
        actor: str
        relayed_at: dt.datetime

        def apply(self, aggregate: Complaint) -> None:
            aggregate.relayed_at = self.relayed_at
            if aggregate.status == "registered":
                aggregate.status = "relayed"

    def relay(self, actor: Actor, at: dt.datetime, causation_id: str) -> None:
        self._require_open()
        if self.relayed_at is not None:
            raise CommandRejected(f"{self.complaint_no} was already relayed at {self.relayed_at.isoformat()}")
        self._trigger(self.Relayed, at, causation_id, actor=actor.id, relayed_at=at)
        self._meet("INT-RELAY-4WH", at, causation_id)

    class RecordCompleted(Event):
        """INT-REQUIRED: the receiver completed the record."""

        wire_type: ClassVar[str] = "RecordCompleted"
        actor: str
        fields: dict[str, Any]
        missing_fields: list[str]

        def apply(self, aggregate: Complaint) -> None:
            for name, value in self.fields.items():
                group, _, key = name.partition(".")
                if key:
                    getattr(aggregate, group)[key] = value
                else:
                    setattr(aggregate, group, value)
            aggregate.missing_fields = list(self.missing_fields)
            aggregate.record_incomplete = bool(self.missing_fields)

    def complete_record(
        self, actor: Actor, fields: dict[str, Any], missing_after: list[str], at: dt.datetime, causation_id: str
    ) -> None:
        self._require_open()
        if not fields:
            raise CommandRejected("nothing to complete: give at least one field")
        self._trigger(
            self.RecordCompleted, at, causation_id, actor=actor.id, fields=fields, missing_fields=missing_after
        )

    class Classified(Event):
        """INT-CLASSIFY: cause, severity level, whether on-site service is needed."""

        wire_type: ClassVar[str] = "FaultClassified"
        actor: str
        cause: str
        level: int
        on_site: bool
        equipment: dict[str, Any]
        site: dict[str, Any]
        in_warranty: bool | None
        warranty_until: str | None

        def apply(self, aggregate: Complaint) -> None:
            aggregate.cause, aggregate.level, aggregate.on_site = self.cause, self.level, self.on_site
            if aggregate.status in ("registered", "relayed"):
                aggregate.status = "classified"

    def classify(
        self, actor: Actor, cause: str, level: int, on_site: bool, at: dt.datetime, causation_id: str,
        first_response: Decision | None,
    ) -> None:  # fmt: skip
        self._require_open()
        if self.kind != "fault":
            raise CommandRejected("a consultation is answered, not classified")
        self._trigger(
            self.Classified, at, causation_id, actor=actor.id, cause=cause, level=level, on_site=on_site,
            equipment=self.equipment, site=self.site, in_warranty=self.warranty["in_warranty"],
            warranty_until=self.warranty["until"],
        )  # fmt: skip
        if first_response is not None:
            self.set_deadline(first_response, at, causation_id)
            if first_response.outputs.get("escalate_to_management"):
                self.escalate("INT-LEVELS", "management", "level 1 fault: system down", at, causation_id)
            if self.first_contact_at is not None and self._met_only_by_contact("INT-LEVELS"):
                self._meet("INT-LEVELS", at, causation_id, met_at=self.first_contact_at)  # contacted before

    class CustomerContacted(Event):
        """INT-LEVELS first response (docs/rules.md §9): a recorded contact with the customer — who,
        when, by which channel, what was agreed (e.g. the time of the visit)."""

        wire_type: ClassVar[str] = "FirstContactRecorded"
        actor: str
        role: str
        channel: str
        agreed: str
        visit_at: dt.datetime | None
        contacted_at: dt.datetime

        def apply(self, aggregate: Complaint) -> None:
            aggregate.first_contact_at = self.contacted_at

    def record_first_contact(
        self, actor: Actor, channel: str, agreed: str, visit_at: dt.datetime | None, at: dt.datetime,
        causation_id: str,
    ) -> None:  # fmt: skip
        self._require_open()
        if self.first_contact_at is not None:
            raise CommandRejected(f"the first contact with the customer was recorded at {self.first_contact_at}")
        if visit_at is not None and visit_at < at:
            raise CommandRejected("the agreed visit time is before the contact")
        self._trigger(self.CustomerContacted, at, causation_id, actor=actor.id, role=actor.role, channel=channel,
                      agreed=agreed, visit_at=visit_at, contacted_at=at)  # fmt: skip
        self._meet("INT-LEVELS", at, causation_id)

    class Answered(Event):
        """INT-REPLY-8WH: a consultation answered."""

        wire_type: ClassVar[str] = "ConsultationAnswered"
        actor: str
        answer: str

        def apply(self, aggregate: Complaint) -> None:
            aggregate.status = "answered"

    def answer(self, actor: Actor, answer: str, at: dt.datetime, causation_id: str) -> None:
        self._require_open()
        if self.kind != "consultation":
            raise CommandRejected("a fault gets a solution, not an answer")
        self._trigger(self.Answered, at, causation_id, actor=actor.id, answer=answer)
        self._meet("INT-REPLY-8WH", at, causation_id)
        self._meet("INT-LEVELS", at, causation_id)  # an answer is itself a contact with the customer

    class SolutionDecided(Event):
        """INT-REPLY-8WH: a fault's solution decided."""

        wire_type: ClassVar[str] = "SolutionDecided"
        actor: str
        solution: str
        expected_repair_hours: float

        def apply(self, aggregate: Complaint) -> None:
            aggregate.status = "solution_decided"

    class LoanerDecided(DecisionEvent):
        """WAR-LOANER: a free loaner unit while a long repair runs."""

        wire_type: ClassVar[str] = "LoanerDecided"

    def decide_solution(
        self, actor: Actor, solution: str, expected_repair_hours: float, at: dt.datetime, causation_id: str,
        loaner: Decision,
    ) -> None:  # fmt: skip
        self._require_open()
        if self.kind != "fault":
            raise CommandRejected("a consultation is answered, not given a solution")
        if self.cause is None:
            raise CommandRejected("classify the fault before deciding its solution")
        self._trigger(self.SolutionDecided, at, causation_id, actor=actor.id, solution=solution,
                      expected_repair_hours=expected_repair_hours)  # fmt: skip
        self._meet("INT-REPLY-8WH", at, causation_id)
        if not self._met_only_by_contact("INT-LEVELS"):
            self._meet("INT-LEVELS", at, causation_id)  # intake-2026.1; deciding is no contact (§9)
        if loaner.outputs["loaner"] and self.warranty["in_warranty"]:
            self._trigger_decision(self.LoanerDecided, loaner, at, causation_id)
            repair_deadline = Decision("WAR-LOANER", loaner.policy_version, loaner.inputs,
                                       {**loaner.outputs, "due_at": loaner.outputs["repair_due_at"]})  # fmt: skip
            self.set_deadline(repair_deadline, at, causation_id)

    # ---------------------------------------------------------------------------- warranty
    class WarrantyDecided(DecisionEvent):
        """WAR-PERIOD (re)decided: on a completed acceptance date or an extension."""

        wire_type: ClassVar[str] = "WarrantyDecided"

        def apply(self, aggregate: Complaint) -> None:
            aggregate.warranty = {
                **aggregate.warranty,
                "in_warranty": self.outputs["in_warranty"],
                "until": self.outputs["until"],
                "extension_days": int(self.inputs.get("extension_days", 0)),
            }

    def decide_warranty(self, decision: Decision, at: dt.datetime, causation_id: str) -> bool:
        current = (self.warranty["in_warranty"], self.warranty["until"], self.warranty["extension_days"])
        new = (
            decision.outputs["in_warranty"],
            decision.outputs["until"],
            int(decision.inputs.get("extension_days", 0)),
        )
        if current == new:
            return False
        self._trigger_decision(self.WarrantyDecided, decision, at, causation_id)
        return True

    class PaymentDecided(DecisionEvent):
        """WAR-FREE / WAR-MISUSE / WAR-OUT: who pays; a customer-paid service needs fee consent."""

        wire_type: ClassVar[str] = "PaymentDecided"

        def apply(self, aggregate: Complaint) -> None:
            aggregate.payer = dict(self.outputs)

    def decide_payer(self, decision: Decision, at: dt.datetime, causation_id: str) -> None:
        if self.payer == decision.outputs:
            return
        self._trigger_decision(self.PaymentDecided, decision, at, causation_id)

    class ExpiryNoticeScheduled(DecisionEvent):
        wire_type: ClassVar[str] = "ExpiryNoticeScheduled"

    class ExpiryNoticeDue(Event):
        """WAR-EXPIRY-NOTICE: write to the customer about renewal, 10 days before expiry."""

        wire_type: ClassVar[str] = "WarrantyExpiryNoticeDue"
        until: str
        customer: dict[str, Any]
        serial: str | None

    def schedule_expiry_notice(self, decision: Decision, at: dt.datetime, causation_id: str) -> None:
        self._trigger_decision(self.ExpiryNoticeScheduled, decision, at, causation_id)

    def notice_expiry(self, until: str, now: dt.datetime, causation_id: str) -> bool:
        if self.warranty["until"] != until:
            return False  # extended meanwhile: a later notice was scheduled for the new date
        self._trigger(self.ExpiryNoticeDue, now, causation_id, until=until, customer=self.customer,
                      serial=self.equipment.get("serial"))  # fmt: skip
        return True

    class RepairRecorded(Event):
        """A repair attempt's outcome (from dispatch once it publishes them; a staff command until then)."""

        wire_type: ClassVar[str] = "RepairRecorded"
        actor: str
        problem: str
        outcome: str
        stops_work: bool

        def apply(self, aggregate: Complaint) -> None:
            aggregate.repairs.append({"problem": self.problem, "outcome": self.outcome, "stops_work": self.stops_work})

    class WarrantyExtended(DecisionEvent):
        """WAR-EXTEND-60D."""

        wire_type: ClassVar[str] = "WarrantyExtended"

    class ReplacementDecided(DecisionEvent):
        """WAR-LEMON: replaced free by a new unit of the same brand and model."""

        wire_type: ClassVar[str] = "ReplacementDecided"

        def apply(self, aggregate: Complaint) -> None:
            aggregate.replacement = True

    def record_repair(
        self, actor: Actor, problem: str, outcome: str, stops_work: bool, at: dt.datetime, causation_id: str,
        extension: Decision, lemon: Decision,
    ) -> None:  # fmt: skip
        self._require_open()
        self._trigger(self.RepairRecorded, at, causation_id, actor=actor.id, problem=problem, outcome=outcome,
                      stops_work=stops_work)  # fmt: skip
        if outcome == "fixed":
            self._meet("WAR-LOANER", at, causation_id)
        if extension.outputs["extend"]:
            self._trigger_decision(self.WarrantyExtended, extension, at, causation_id)
        if lemon.outputs["replace"] and not self.replacement:
            self._trigger_decision(self.ReplacementDecided, lemon, at, causation_id)
            self.escalate("WAR-LEMON", "management", f"replacement after repeated failed repairs of {problem}",
                          at, causation_id)  # fmt: skip

    # ------------------------------------------------------------------------------- closing
    class Closed(Event):
        wire_type: ClassVar[str] = "ComplaintClosed"
        actor: str
        outcome: str

        def apply(self, aggregate: Complaint) -> None:
            aggregate.status = "closed"

    def close(self, actor: Actor, outcome: str, at: dt.datetime, causation_id: str) -> None:
        self._require_open()
        self._trigger(self.Closed, at, causation_id, actor=actor.id, outcome=outcome)

    def _require_open(self) -> None:
        if self.status == "closed":
            raise CommandRejected(f"{self.complaint_no} is closed")

    # ------------------------------------------------------------------------------ surveys
    class SurveyRecorded(Event):
        """Satisfaction (docs/contract.md §1): a rating of 4 or 5 counts as satisfied."""

        wire_type: ClassVar[str] = "SurveyRecorded"
        survey_call_id: str
        rating: int
        satisfied: bool
        completed_at: dt.datetime

        def apply(self, aggregate: Complaint) -> None:
            aggregate.surveys.append({"rating": self.rating, "satisfied": self.satisfied})

    def record_survey(self, *, survey_call_id: str, rating: int, completed_at: dt.datetime, causation_id: str) -> None:
        self._trigger(self.SurveyRecorded, completed_at, causation_id, survey_call_id=survey_call_id, rating=rating,
                      satisfied=rating >= SATISFIED_RATING, completed_at=completed_at)  # fmt: skip


DEPARTMENTS = {
    "agent": "customer_service",
    "tq": "technical_quality",
    "engineer": "after_sales_service",
    "warehouse_keeper": "warehouse",
    "old_parts_officer": "old_parts",
    "auditor": "technical_quality",
}


VOID_NAMESPACE = uuid.UUID("5b0e7f3c-9d41-4e6a-8a2f-1c3d5e7f9a0b")


def void_id_for(complaint_no: str) -> uuid.UUID:
    return uuid.uuid5(VOID_NAMESPACE, complaint_no)


class VoidNumber(Aggregate):
    """INT-REGISTER: a register number that no complaint carries, recorded as void with the reason,
    so the register shows it instead of a gap (auditors read a gap as a deleted record)."""

    class Voided(Aggregate.Created):
        wire_type: ClassVar[str] = "RegisterNumberVoided"
        complaint_no: str
        reason: str
        voided_at: dt.datetime
        correlation_id: str
        causation_id: str

    def __init__(
        self, complaint_no: str, reason: str, voided_at: dt.datetime, correlation_id: str, causation_id: str
    ) -> None:
        self.complaint_no = complaint_no
        self.reason = reason
        self.voided_at = voided_at

    @classmethod
    def void(cls, complaint_no: str, reason: str, voided_at: dt.datetime, causation_id: str) -> VoidNumber:
        return cls._create(cls.Voided, id=void_id_for(complaint_no), timestamp=voided_at, complaint_no=complaint_no,
                           reason=reason, voided_at=voided_at, correlation_id=complaint_no,
                           causation_id=causation_id)  # fmt: skip


class Equipment(Aggregate):
    """One unit by serial: the warranty extensions and repair history that outlive a complaint."""

    class Registered(Aggregate.Created):
        wire_type: ClassVar[str] = "EquipmentRegistered"
        serial: str
        correlation_id: str
        causation_id: str

    def __init__(self, serial: str, correlation_id: str, causation_id: str) -> None:
        self.serial = serial
        self.extension_days = 0
        self.repairs: list[dict[str, Any]] = []

    @classmethod
    def register(cls, serial: str, at: dt.datetime, complaint_no: str, causation_id: str) -> Equipment:
        return cls._create(cls.Registered, id=equipment_id_for(serial), timestamp=at, serial=serial,
                           correlation_id=complaint_no, causation_id=causation_id)  # fmt: skip

    class RepairNoted(Aggregate.Event):
        wire_type: ClassVar[str] = "EquipmentRepairNoted"
        problem: str
        outcome: str
        correlation_id: str
        causation_id: str

        def apply(self, aggregate: Equipment) -> None:
            aggregate.repairs.append({"complaint_no": self.correlation_id, "problem": self.problem,
                                      "outcome": self.outcome})  # fmt: skip

    class Extended(Aggregate.Event):
        wire_type: ClassVar[str] = "EquipmentWarrantyExtended"
        days: int
        correlation_id: str
        causation_id: str

        def apply(self, aggregate: Equipment) -> None:
            aggregate.extension_days += self.days

    def note_repair(self, complaint_no: str, problem: str, outcome: str, at: dt.datetime, causation_id: str) -> None:
        self.trigger_event(self.RepairNoted, timestamp=at, problem=problem, outcome=outcome,
                           correlation_id=complaint_no, causation_id=causation_id)  # fmt: skip

    def extend(self, complaint_no: str, days: int, at: dt.datetime, causation_id: str) -> None:
        self.trigger_event(self.Extended, timestamp=at, days=days, correlation_id=complaint_no,
                           causation_id=causation_id)  # fmt: skip

    def outcomes_of(self, problem: str) -> list[str]:
        key = normalise_problem(problem)
        return [r["outcome"] for r in self.repairs if normalise_problem(r["problem"]) == key]


def normalise_problem(problem: str) -> str:
    return "".join(problem.split()).lower()


# ------------------------------------------------------------------------- the working calendar (§9)

CALENDAR_NAMESPACE = uuid.UUID("5b0c7a4e-1f3d-4e8a-b6a2-0c9d3e7f2a11")


def calendar_id_for(year: int) -> uuid.UUID:
    return uuid.uuid5(CALENDAR_NAMESPACE, f"calendar:{year}")


class CalendarYear(Aggregate):
    """One year's working calendar as ops published it; a correction is a later publication."""

    class Published(Aggregate.Created):
        wire_type: ClassVar[str] = "CalendarPublished"
        year: int
        holidays: list[str]
        workdays: list[str]
        calendar_version: str
        digest: str
        notice: str
        published_by: str
        role: str
        correlation_id: str
        causation_id: str

    class Republished(Aggregate.Event):
        wire_type: ClassVar[str] = "CalendarPublished"
        year: int
        holidays: list[str]
        workdays: list[str]
        calendar_version: str
        digest: str
        notice: str
        published_by: str
        role: str
        correlation_id: str
        causation_id: str

        def apply(self, aggregate: CalendarYear) -> None:
            aggregate.calendar_version = self.calendar_version

    def __init__(self, year: int, holidays: list[str], workdays: list[str], calendar_version: str, digest: str,
                 notice: str, published_by: str, role: str, correlation_id: str,
                 causation_id: str) -> None:  # fmt: skip
        self.year = year
        self.calendar_version = calendar_version

    @classmethod
    def publish(
        cls, year: int, content: dict[str, Any], actor: Actor, at: dt.datetime, causation_id: str
    ) -> CalendarYear:
        return cls._create(cls.Published, id=calendar_id_for(year), timestamp=at, year=year, **content,
                           published_by=actor.id, role=actor.role, correlation_id=f"calendar:{year}",
                           causation_id=causation_id)  # fmt: skip

    def republish(self, content: dict[str, Any], actor: Actor, at: dt.datetime, causation_id: str) -> None:
        self.trigger_event(self.Republished, timestamp=at, year=self.year, **content, published_by=actor.id,
                           role=actor.role, correlation_id=f"calendar:{self.year}",
                           causation_id=causation_id)  # fmt: skip


ERASURE_NAMESPACE = uuid.UUID("5b8f0c2e-61a4-4d7e-9f3b-0c8a2e7d41b6")


class Erasure(Aggregate):
    """PII-ERASE (docs/rules.md §11): a customer's deletion request under PIPL, carried out by
    destroying the customer's keys. The record names the keys destroyed, who asked, why and when,
    and nothing that leads back to the customer (not the phone, not its keyed index)."""

    class Erased(Aggregate.Created):
        wire_type: ClassVar[str] = "PersonalDataErased"
        key_ids: list[str]
        erased_by: str
        role: str
        reason: str
        correlation_id: str
        causation_id: str

    def __init__(self, key_ids: list[str], erased_by: str, role: str, reason: str, correlation_id: str,
                 causation_id: str) -> None:  # fmt: skip
        self.key_ids = key_ids

    @classmethod
    def erase(cls, key_ids: list[str], actor: Actor, reason: str, at: dt.datetime, causation_id: str) -> Erasure:
        keys = sorted(key_ids)
        erasure_id = uuid.uuid5(ERASURE_NAMESPACE, f"{','.join(keys)}:{at.isoformat()}:{causation_id}")
        return cls._create(cls.Erased, id=erasure_id, timestamp=at, key_ids=keys, erased_by=actor.id,
                           role=actor.role, reason=reason, correlation_id=f"privacy:{erasure_id}",
                           causation_id=causation_id)  # fmt: skip
