"""Dispatch's aggregates: the engineer roster and one dispatch case per complaint (派工).

Pure: no I/O, no clock. Time and rule outcomes come in as values (`Decision`s computed by policy);
every decision event records its rule id, policy version, inputs and outputs.

The case also keeps the complaint's fines and escalations ledger (docs/rules.md §4): its own fines and
escalations, and those intake raised (noted here so they can be disputed, acknowledged and
escalated further: history on intake's side is never edited).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from eventsourcing.domain import Aggregate

from shared.events.decisions import Actor, Decision
from shared.events.dispatch_events import ROSTER_CORRELATION
from shared.security.duties import refuse_own

DISPATCH_NAMESPACE = uuid.UUID("a4c1d7e2-5f1b-4b8e-8d0a-6c2e9f3b7a15")
ROSTER_ID = uuid.uuid5(DISPATCH_NAMESPACE, "roster")
CHINA = ZoneInfo("Asia/Shanghai")

DEPARTMENTS = {
    "agent": "customer_service",
    "tq": "technical_quality",
    "engineer": "after_sales_service",
    "warehouse_keeper": "warehouse",
    "old_parts_officer": "old_parts",
    "branch_manager": "sales_branch",
}


class CommandRejected(ValueError):
    """The command does not fit the case's state; nothing was recorded."""


def case_id_for(complaint_no: str) -> uuid.UUID:
    return uuid.uuid5(DISPATCH_NAMESPACE, f"case:{complaint_no}")


def _uuid(namespace: uuid.UUID, *parts: object) -> str:
    return str(uuid.uuid5(namespace, ":".join(str(p) for p in parts)))


# ====================================================================================== roster


class Roster(Aggregate):
    """The engineers (售后服务技术人员): region, product skills, current load, availability."""

    class Opened(Aggregate.Created):
        wire_type: ClassVar[str] = "RosterOpened"
        correlation_id: str
        causation_id: str

    def __init__(self, correlation_id: str, causation_id: str) -> None:
        self.engineers: dict[str, dict[str, Any]] = {}

    @classmethod
    def open(cls, at: dt.datetime, causation_id: str) -> Roster:
        return cls._create(cls.Opened, id=ROSTER_ID, timestamp=at, correlation_id=ROSTER_CORRELATION,
                           causation_id=causation_id)  # fmt: skip

    class Event(Aggregate.Event):
        correlation_id: str
        causation_id: str

    class EngineerRegistered(Event):
        wire_type: ClassVar[str] = "EngineerRegistered"
        engineer_id: str
        name: str
        region: str
        skills: list[str]
        load: int
        available: bool
        actor: str

        def apply(self, aggregate: Roster) -> None:
            aggregate.engineers[self.engineer_id] = {
                "engineer_id": self.engineer_id, "name": self.name, "region": self.region,
                "skills": list(self.skills), "load": self.load, "available": self.available,
            }  # fmt: skip

    class EngineerUpdated(Event):
        wire_type: ClassVar[str] = "EngineerUpdated"
        engineer_id: str
        changes: dict[str, Any]
        actor: str

        def apply(self, aggregate: Roster) -> None:
            aggregate.engineers[self.engineer_id].update(self.changes)

    class EngineerLoadChanged(Event):
        """An engineer took on (+1) or finished (−1) a dispatch."""

        wire_type: ClassVar[str] = "EngineerLoadChanged"
        engineer_id: str
        delta: int
        complaint_no: str

        def apply(self, aggregate: Roster) -> None:
            engineer = aggregate.engineers[self.engineer_id]
            engineer["load"] = max(0, int(engineer["load"]) + self.delta)

    def _trigger(self, cls: type[Aggregate.Event], at: dt.datetime, causation_id: str, **fields: Any) -> None:
        self.trigger_event(cls, timestamp=at, correlation_id=ROSTER_CORRELATION, causation_id=causation_id,
                           **fields)  # fmt: skip

    def register(
        self, actor: Actor, engineer_id: str, name: str, region: str, skills: list[str], load: int, available: bool,
        at: dt.datetime, causation_id: str,
    ) -> None:  # fmt: skip
        if engineer_id in self.engineers:
            raise CommandRejected(f"engineer {engineer_id} is already on the roster; update them instead")
        self._trigger(self.EngineerRegistered, at, causation_id, engineer_id=engineer_id, name=name, region=region,
                      skills=skills, load=load, available=available, actor=actor.id)  # fmt: skip

    def update(
        self, actor: Actor, engineer_id: str, changes: dict[str, Any], at: dt.datetime, causation_id: str
    ) -> None:
        if engineer_id not in self.engineers:
            raise CommandRejected(f"no engineer {engineer_id} on the roster")
        if not changes:
            raise CommandRejected("nothing to update: give region, skills, load or available")
        self._trigger(self.EngineerUpdated, at, causation_id, engineer_id=engineer_id, changes=changes, actor=actor.id)

    def change_load(self, engineer_id: str, delta: int, complaint_no: str, at: dt.datetime, causation_id: str) -> None:
        if engineer_id in self.engineers:
            self._trigger(self.EngineerLoadChanged, at, causation_id, engineer_id=engineer_id, delta=delta,
                          complaint_no=complaint_no)  # fmt: skip


# ================================================================================ dispatch case


class Case(Aggregate):
    """One complaint as dispatch sees it: from receipt through visit, report and audit, with its
    fines and escalations."""

    class Opened(Aggregate.Created):
        wire_type: ClassVar[str] = "DispatchCaseOpened"
        complaint_no: str
        received_at: dt.datetime
        kind: str
        agent_id: str | None
        customer: dict[str, Any]
        equipment: dict[str, Any]
        site: dict[str, Any]
        correlation_id: str
        causation_id: str

    def __init__(
        self, complaint_no: str, received_at: dt.datetime, kind: str, agent_id: str | None, customer: dict[str, Any],
        equipment: dict[str, Any], site: dict[str, Any], correlation_id: str, causation_id: str,
    ) -> None:  # fmt: skip
        self.complaint_no = complaint_no
        self.received_at = received_at
        self.kind = kind
        self.agent_id = agent_id
        self.customer = customer
        self.equipment = equipment
        self.site = site
        self.status = "awaiting_classification"
        self.on_site: bool | None = None
        self.cause: str | None = None
        self.classified_by: str | None = None
        self.payer: dict[str, Any] | None = None
        self.fee: dict[str, Any] = {"consent_required": None, "consent": None, "deputy_gm_approved": False,
                                    "may_dispatch": False}  # fmt: skip
        self.engineer_id: str | None = None
        self.excluded: list[str] = []
        self.dispatches = 0
        self.deadlines: dict[str, dict[str, Any]] = {}
        self.arrived_at: dt.datetime | None = None
        self.form: dict[str, Any] | None = None
        self.return_approved_at: dt.datetime | None = None
        self.returned_at: dt.datetime | None = None
        self.left_without_approval = False
        self.reported_at: dt.datetime | None = None
        self.audited_at: dt.datetime | None = None
        self.audit_assignee: str | None = None
        self.service_fault: dict[str, Any] | None = None
        self.followups: dict[int, str] = {}
        self.fines: dict[str, dict[str, Any]] = {}
        self.escalations: dict[str, dict[str, Any]] = {}

    @classmethod
    def open(
        cls, *, complaint_no: str, received_at: dt.datetime, kind: str, agent_id: str | None,
        customer: dict[str, Any], equipment: dict[str, Any], site: dict[str, Any], causation_id: str,
    ) -> Case:  # fmt: skip
        return cls._create(cls.Opened, id=case_id_for(complaint_no), timestamp=received_at, complaint_no=complaint_no,
                           received_at=received_at, kind=kind, agent_id=agent_id, customer=customer,
                           equipment=equipment, site=site, correlation_id=complaint_no,
                           causation_id=causation_id)  # fmt: skip

    # ------------------------------------------------------------------------------ base events
    class Event(Aggregate.Event):
        correlation_id: str
        causation_id: str

    class DecisionEvent(Event):
        rule: str
        policy_version: str
        inputs: dict[str, Any]
        outputs: dict[str, Any]

    def _trigger(self, cls: type[Aggregate.Event], at: dt.datetime, causation_id: str, **fields: Any) -> None:
        self.trigger_event(cls, timestamp=at, correlation_id=self.complaint_no, causation_id=causation_id, **fields)

    def _trigger_decision(
        self, cls: type[DecisionEvent], decision: Decision, at: dt.datetime, causation_id: str, **fields: Any
    ) -> None:
        self._trigger(cls, at, causation_id, rule=decision.rule, policy_version=decision.policy_version,
                      inputs=decision.inputs, outputs=decision.outputs, **fields)  # fmt: skip

    @property
    def dispatch_order_no(self) -> str:
        """审批号: the complaint number and the dispatch's sequence."""
        return f"{self.complaint_no}-D{self.dispatches}"

    # --------------------------------------------------------------------- from intake (upstream)
    class OnSiteServiceNeeded(Event):
        """INT-CLASSIFY said on-site service is needed: the dispatch begins."""

        wire_type: ClassVar[str] = "OnSiteServiceNeeded"
        classified_by: str
        cause: str
        level: int
        in_warranty: bool | None
        equipment: dict[str, Any]
        site: dict[str, Any]

        def apply(self, aggregate: Case) -> None:
            aggregate.on_site = True
            aggregate.cause = self.cause
            aggregate.classified_by = self.classified_by
            aggregate.equipment = dict(self.equipment)
            aggregate.site = dict(self.site)
            if aggregate.status == "awaiting_classification":
                aggregate.status = "awaiting_payer"

    def need_on_site(
        self, classified_by: str, cause: str, level: int, in_warranty: bool | None, equipment: dict[str, Any],
        site: dict[str, Any], at: dt.datetime, causation_id: str,
    ) -> bool:  # fmt: skip
        if self.engineer_id is not None or self.dispatches:
            return False  # already dispatched: a reclassification changes nothing here
        self._trigger(self.OnSiteServiceNeeded, at, causation_id, classified_by=classified_by, cause=cause,
                      level=level, in_warranty=in_warranty, equipment=equipment, site=site)  # fmt: skip
        return True

    class PayerNoted(Event):
        """Who pays, as intake decided it (WAR-FREE / WAR-MISUSE / WAR-OUT)."""

        wire_type: ClassVar[str] = "PayerNoted"
        applies: str | None
        payer: str | None
        fee_consent_required: bool | None

        def apply(self, aggregate: Case) -> None:
            aggregate.payer = {"applies": self.applies, "payer": self.payer,
                               "fee_consent_required": self.fee_consent_required}  # fmt: skip

    def note_payer(self, outputs: dict[str, Any], at: dt.datetime, causation_id: str) -> bool:
        if self.dispatches:
            return False
        self._trigger(self.PayerNoted, at, causation_id, applies=outputs.get("applies"), payer=outputs.get("payer"),
                      fee_consent_required=outputs.get("fee_consent_required"))  # fmt: skip
        return True

    def fee_inputs(self) -> dict[str, Any] | None:
        """DSP-FEE-CONSENT inputs, or None while warranty (and so the payer) is undetermined."""
        if not self.on_site or self.payer is None or self.payer["fee_consent_required"] is None:
            return None
        return {
            "payer": self.payer["payer"],
            "applies": self.payer["applies"],
            "fee_consent_required": self.payer["fee_consent_required"],
            "consent": self.fee["consent"],
            "deputy_gm_approved": self.fee["deputy_gm_approved"],
        }

    # ----------------------------------------------------------------------- fee (DSP-FEE-CONSENT)
    class FeeConsentDecided(DecisionEvent):
        """DSP-FEE-CONSENT: whether dispatch may go ahead, or waits for the customer or the deputy GM."""

        wire_type: ClassVar[str] = "FeeConsentDecided"

        def apply(self, aggregate: Case) -> None:
            aggregate.fee["decided_on"] = dict(self.inputs)
            aggregate.fee["consent_required"] = self.outputs["consent_required"]
            aggregate.fee["may_dispatch"] = self.outputs["may_dispatch"]
            if not self.outputs["may_dispatch"] and aggregate.engineer_id is None:
                aggregate.status = "awaiting_deputy_gm" if self.outputs["needs_approval_by"] else "awaiting_fee_consent"

    def decide_fee(self, decision: Decision, at: dt.datetime, causation_id: str) -> None:
        self._trigger_decision(self.FeeConsentDecided, decision, at, causation_id)

    class FeeConsentRecorded(Event):
        wire_type: ClassVar[str] = "FeeConsentRecorded"
        actor: str
        accepted: bool
        fee_fen: int
        plan: str

        def apply(self, aggregate: Case) -> None:
            aggregate.fee.update(consent="accepted" if self.accepted else "refused", fee_fen=self.fee_fen,
                                 plan=self.plan, consent_by=self.actor)  # fmt: skip

    def record_consent(
        self, actor: Actor, accepted: bool, fee_fen: int, plan: str, at: dt.datetime, causation_id: str
    ) -> None:
        if self.fee["consent_required"] is not True:
            raise CommandRejected(f"{self.complaint_no} needs no fee consent (DSP-FEE-CONSENT): {self.status}")
        if self.fee["consent"] is not None:
            raise CommandRejected(f"the customer already {self.fee['consent']} the fee")
        self._trigger(self.FeeConsentRecorded, at, causation_id, actor=actor.id, accepted=accepted, fee_fen=fee_fen,
                      plan=plan)  # fmt: skip

    class DispatchApproved(Event):
        """The deputy general manager approved service after the customer refused the fee."""

        wire_type: ClassVar[str] = "DispatchApproved"
        actor: str
        reason: str

        def apply(self, aggregate: Case) -> None:
            aggregate.fee["deputy_gm_approved"] = True

    def approve_dispatch(self, actor: Actor, reason: str, at: dt.datetime, causation_id: str) -> None:
        if self.fee["consent"] != "refused":
            raise CommandRejected("the deputy GM approves a dispatch only after the customer refused the fee")
        if self.fee["deputy_gm_approved"]:
            raise CommandRejected("dispatch was already approved")
        refuse_own("SOD-OWN-FEE", actor.id, "approve the fee exception they recorded", self.fee.get("consent_by"))
        self._trigger(self.DispatchApproved, at, causation_id, actor=actor.id, reason=reason)
        for escalation_id, escalation in self.escalations.items():
            if escalation["to"] == "deputy_gm" and escalation["status"] == "open":
                self.acknowledge(actor, escalation_id, f"approved: {reason}", at, causation_id)

    # ------------------------------------------------------------------------- assignment
    class EngineerAssigned(DecisionEvent):
        """DSP-ASSIGN: the engineer chosen (or none available)."""

        wire_type: ClassVar[str] = "EngineerAssigned"
        engineer_id: str | None

        def apply(self, aggregate: Case) -> None:
            if self.engineer_id is None:
                aggregate.status = "awaiting_engineer"

    class EngineerDispatched(Event):
        wire_type: ClassVar[str] = "EngineerDispatched"
        engineer_id: str
        dispatch_order_no: str
        region: str | None
        dispatched_at: dt.datetime

        def apply(self, aggregate: Case) -> None:
            aggregate.engineer_id = self.engineer_id
            aggregate.dispatches += 1
            aggregate.status = "dispatched"

    class EngineerWithdrawn(Event):
        """Headquarters took the engineer off the case (the customer complained about them)."""

        wire_type: ClassVar[str] = "EngineerWithdrawn"
        engineer_id: str
        actor: str
        reason: str

        def apply(self, aggregate: Case) -> None:
            aggregate.excluded.append(self.engineer_id)
            aggregate.engineer_id = None
            aggregate.arrived_at = None

    @property
    def may_dispatch(self) -> bool:
        return bool(self.fee["may_dispatch"]) and self.engineer_id is None and self.returned_at is None

    def assign(self, decision: Decision, at: dt.datetime, causation_id: str) -> str | None:
        """Record DSP-ASSIGN; when it found an engineer, dispatch them (EngineerDispatched)."""
        engineer_id: str | None = decision.outputs["engineer_id"]
        self._trigger_decision(self.EngineerAssigned, decision, at, causation_id, engineer_id=engineer_id)
        if engineer_id is None:
            return None
        region = next((e["region"] for e in decision.inputs["engineers"] if e["engineer_id"] == engineer_id), None)
        self._trigger(self.EngineerDispatched, at, causation_id, engineer_id=engineer_id,
                      dispatch_order_no=f"{self.complaint_no}-D{self.dispatches + 1}", region=region,
                      dispatched_at=at)  # fmt: skip
        return engineer_id

    def withdraw(self, actor: Actor, reason: str, at: dt.datetime, causation_id: str) -> str:
        if self.engineer_id is None:
            raise CommandRejected(f"{self.complaint_no} has no engineer to replace")
        if self.returned_at is not None:
            raise CommandRejected("the engineer has already returned from the site")
        if self.form is not None:
            raise CommandRejected("the service form is signed: the engineer who signed it stays on record")
        engineer_id = self.engineer_id
        self._trigger(self.EngineerWithdrawn, at, causation_id, engineer_id=engineer_id, actor=actor.id, reason=reason)
        return engineer_id

    # ------------------------------------------------------------------------------ deadlines
    class DeadlineSet(DecisionEvent):
        wire_type: ClassVar[str] = "DeadlineSet"

        def apply(self, aggregate: Case) -> None:
            previous = aggregate.deadlines.get(self.rule, {})
            aggregate.deadlines[self.rule] = {"due_at": self.outputs["due_at"], "met_at": previous.get("met_at"),
                                              "breached_at": previous.get("breached_at")}  # fmt: skip

    class DeadlineMet(Event):
        wire_type: ClassVar[str] = "DeadlineMet"
        deadline: str
        met_at: dt.datetime
        late: bool

        def apply(self, aggregate: Case) -> None:
            aggregate.deadlines[self.deadline]["met_at"] = self.met_at.isoformat()

    class DeadlineBreached(Event):
        wire_type: ClassVar[str] = "DeadlineBreached"
        deadline: str
        due_at: str
        breached_at: dt.datetime

        def apply(self, aggregate: Case) -> None:
            aggregate.deadlines[self.deadline]["breached_at"] = self.breached_at.isoformat()

    def set_deadline(self, decision: Decision, at: dt.datetime, causation_id: str) -> None:
        if decision.rule in self.deadlines:
            return
        self._trigger_decision(self.DeadlineSet, decision, at, causation_id)

    def deadline_open(self, rule: str) -> bool:
        deadline = self.deadlines.get(rule)
        return deadline is not None and deadline["met_at"] is None and deadline["breached_at"] is None

    def breach(self, rule: str, now: dt.datetime, causation_id: str, escalate: Decision | None) -> bool:
        """The clock passed an open deadline: record the breach (and its escalation), once."""
        if not self.deadline_open(rule):
            return False
        due_at = self.deadlines[rule]["due_at"]
        if now <= dt.datetime.fromisoformat(due_at):  # the due minute itself is still in time
            return False
        self._trigger(self.DeadlineBreached, now, causation_id, deadline=rule, due_at=due_at, breached_at=now)
        if escalate is not None:
            self.escalate(rule, escalate, f"{rule} missed (due {due_at})", now, causation_id)
        return True

    def _meet(self, rule: str, at: dt.datetime, causation_id: str, escalate: Decision | None = None) -> None:
        deadline = self.deadlines.get(rule)
        if deadline is None or deadline["met_at"] is not None:
            return
        late = deadline["breached_at"] is not None or at > dt.datetime.fromisoformat(deadline["due_at"])
        if late and deadline["breached_at"] is None:
            self.breach(rule, at, causation_id, escalate)
        self._trigger(self.DeadlineMet, at, causation_id, deadline=rule, met_at=at, late=late)

    # ---------------------------------------------------------------------------------- visit
    class EngineerArrived(Event):
        wire_type: ClassVar[str] = "EngineerArrived"
        engineer_id: str
        arrived_at: dt.datetime

        def apply(self, aggregate: Case) -> None:
            aggregate.arrived_at = self.arrived_at
            aggregate.status = "on_site"

    def _require_engineer(self, actor: Actor) -> str:
        if self.engineer_id is None:
            raise CommandRejected(f"{self.complaint_no} has no engineer dispatched ({self.status})")
        if actor.role == "engineer" and actor.id != self.engineer_id:
            raise CommandRejected(f"{actor.id} is not the engineer dispatched to {self.complaint_no}")
        return self.engineer_id

    def arrive(self, actor: Actor, at: dt.datetime, causation_id: str, escalate: Decision) -> None:
        engineer_id = self._require_engineer(actor)
        if self.arrived_at is not None:
            raise CommandRejected(f"arrival was already recorded at {self.arrived_at.isoformat()}")
        self._trigger(self.EngineerArrived, at, causation_id, engineer_id=engineer_id, arrived_at=at)
        self._meet("DSP-ARRIVE", at, causation_id, escalate)

    class ServiceFormSigned(DecisionEvent):
        """DSP-FORM: the technical service form (技术服务单), valid and signed by the customer."""

        wire_type: ClassVar[str] = "ServiceFormSigned"
        engineer_id: str
        dispatch_order_no: str
        form: dict[str, Any]

        def apply(self, aggregate: Case) -> None:
            aggregate.form = dict(self.form)
            aggregate.status = "serviced"

    class PartsReplaced(Event):
        """dispatch → parts: every part the signed form replaced, with the PRT-RECORD fields."""

        wire_type: ClassVar[str] = "PartsReplaced"
        complaint_no: str
        dispatch_id: str
        parts: list[dict[str, Any]]
        completed_at: dt.datetime

    class RepairOutcomeRecorded(Event):
        """dispatch → intake: a repair attempt's outcome (WAR-EXTEND-60D, WAR-LEMON)."""

        wire_type: ClassVar[str] = "RepairOutcomeRecorded"
        complaint_no: str
        serial: str | None
        engineer_id: str
        problem: str
        outcome: str
        stops_work: bool
        completed_at: dt.datetime

    def sign_form(self, actor: Actor, decision: Decision, at: dt.datetime, causation_id: str) -> None:
        engineer_id = self._require_engineer(actor)
        if self.arrived_at is None:
            raise CommandRejected("record the arrival before the service form")
        if self.form is not None:
            raise CommandRejected("the service form was already signed")
        if not decision.outputs["valid"]:
            raise CommandRejected("DSP-FORM: " + "; ".join(decision.outputs["problems"]))
        form = dict(decision.inputs)
        self._trigger_decision(self.ServiceFormSigned, decision, at, causation_id, engineer_id=engineer_id,
                               dispatch_order_no=self.dispatch_order_no, form=form)  # fmt: skip
        finished = dt.datetime.fromisoformat(form["finished_at"])
        if form["parts"]:
            parts = [self._part_record(index, part, engineer_id, form, finished) for index, part in
                     enumerate(form["parts"])]  # fmt: skip
            self._trigger(self.PartsReplaced, at, causation_id, complaint_no=self.complaint_no,
                          dispatch_id=str(self.id), parts=parts, completed_at=finished)  # fmt: skip
        self._trigger(self.RepairOutcomeRecorded, at, causation_id, complaint_no=self.complaint_no,
                      serial=self.equipment.get("serial"), engineer_id=engineer_id, problem=form["problem"],
                      outcome=form["outcome"], stops_work=form["stops_work"], completed_at=finished)  # fmt: skip

    def _part_record(
        self, index: int, part: dict[str, Any], engineer_id: str, form: dict[str, Any], finished: dt.datetime
    ) -> dict[str, Any]:
        quantity, unit_price = int(part["quantity"]), int(part["unit_price_fen"])
        return {
            "part_id": _uuid(self.id, "part", self.dispatch_order_no, index),
            "dispatch_order_no": self.dispatch_order_no,
            "equipment_no": self.equipment.get("serial") or "",
            "material_code": part["material_code"],
            "description": part.get("description") or "",
            "quantity": quantity,
            "unit_price_fen": unit_price,
            "total_fen": quantity * unit_price,
            "responsible_engineer": engineer_id,
            "region": self.site.get("region") or "",
            "fault": form["problem"],
            "return_to_hq": bool(part.get("return_to_hq", True)),
            "completed_on": finished.astimezone(CHINA).date().isoformat(),
        }

    class ReturnApproved(Event):
        """DSP-RETURN-APPROVAL: the technical-quality department let the engineer leave the site."""

        wire_type: ClassVar[str] = "ReturnApproved"
        actor: str
        approved_at: dt.datetime

        def apply(self, aggregate: Case) -> None:
            aggregate.return_approved_at = self.approved_at

    def approve_return(self, actor: Actor, at: dt.datetime, causation_id: str) -> None:
        if self.engineer_id is None or self.arrived_at is None:
            raise CommandRejected("the engineer is not on site")
        if self.return_approved_at is not None or self.returned_at is not None:
            raise CommandRejected("the return was already approved or the engineer has left")
        self._trigger(self.ReturnApproved, at, causation_id, actor=actor.id, approved_at=at)

    class EngineerReturned(DecisionEvent):
        """The engineer left the site; DSP-RETURN-APPROVAL says whether with approval."""

        wire_type: ClassVar[str] = "EngineerReturned"
        engineer_id: str
        returned_at: dt.datetime

        def apply(self, aggregate: Case) -> None:
            aggregate.returned_at = self.returned_at
            aggregate.left_without_approval = bool(self.outputs["left_without_approval"])
            aggregate.status = "returned"

    def record_return(
        self, actor: Actor, approval: Decision, report: Decision, at: dt.datetime, causation_id: str
    ) -> str:
        engineer_id = self._require_engineer(actor)
        if self.arrived_at is None:
            raise CommandRejected("the engineer never arrived on site")
        if self.returned_at is not None:
            raise CommandRejected("the return was already recorded")
        self._trigger_decision(self.EngineerReturned, approval, at, causation_id, engineer_id=engineer_id,
                               returned_at=at)  # fmt: skip
        self.set_deadline(report, at, causation_id)
        return engineer_id

    class ReportFiled(Event):
        """DSP-REPORT-3WD: the written report with the form, expense claim, materials and payments."""

        wire_type: ClassVar[str] = "ReportFiled"
        actor: str
        reported_at: dt.datetime
        summary: str
        expense_claim_fen: int
        payments_collected_fen: int
        returned_materials: list[str]

        def apply(self, aggregate: Case) -> None:
            aggregate.reported_at = self.reported_at
            aggregate.status = "reported"

    def file_report(
        self, actor: Actor, summary: str, expense_claim_fen: int, payments_collected_fen: int,
        returned_materials: list[str], audit: Decision, at: dt.datetime, causation_id: str,
    ) -> None:  # fmt: skip
        self._require_engineer(actor)
        if self.returned_at is None:
            raise CommandRejected("the report is filed after returning from the site")
        if self.reported_at is not None:
            raise CommandRejected("the report was already filed")
        self._trigger(self.ReportFiled, at, causation_id, actor=actor.id, reported_at=at, summary=summary,
                      expense_claim_fen=expense_claim_fen, payments_collected_fen=payments_collected_fen,
                      returned_materials=returned_materials)  # fmt: skip
        self._meet("DSP-REPORT-3WD", at, causation_id)
        self.set_deadline(audit, at, causation_id)

    class AuditCompleted(Event):
        """DSP-AUDIT-5WD: quality and the customer's rating confirmed, costs audited."""

        wire_type: ClassVar[str] = "AuditCompleted"
        actor: str
        audited_at: dt.datetime
        quality_confirmed: bool
        rating_confirmed: bool
        cost_approved_fen: int
        notes: str

        def apply(self, aggregate: Case) -> None:
            aggregate.audited_at = self.audited_at
            aggregate.status = "audited"

    def audit(
        self, actor: Actor, quality_confirmed: bool, rating_confirmed: bool, cost_approved_fen: int, notes: str,
        escalate: Decision, at: dt.datetime, causation_id: str,
    ) -> None:  # fmt: skip
        if self.reported_at is None:
            raise CommandRejected("the audit follows the engineer's written report")
        if self.audited_at is not None:
            raise CommandRejected("the audit was already recorded")
        self._trigger(self.AuditCompleted, at, causation_id, actor=actor.id, audited_at=at,
                      quality_confirmed=quality_confirmed, rating_confirmed=rating_confirmed,
                      cost_approved_fen=cost_approved_fen, notes=notes)  # fmt: skip
        self._meet("DSP-AUDIT-5WD", at, causation_id, escalate)

    class AuditStarted(Event):
        """DSP-AUDIT-5WD: technical quality took up the audit; `auditor` answers for it (FIN-AUDIT-LATE)."""

        wire_type: ClassVar[str] = "AuditStarted"
        actor: str
        auditor: str

        def apply(self, aggregate: Case) -> None:
            aggregate.audit_assignee = self.auditor

    def start_audit(self, actor: Actor, auditor: str, at: dt.datetime, causation_id: str) -> None:
        if self.reported_at is None:
            raise CommandRejected("the audit starts once the engineer's written report is filed (DSP-AUDIT-5WD)")
        if self.audited_at is not None:
            raise CommandRejected("the audit was already recorded")
        if self.audit_assignee == auditor:
            raise CommandRejected(f"{auditor} already audits {self.complaint_no}")
        self._trigger(self.AuditStarted, at, causation_id, actor=actor.id, auditor=auditor)

    @property
    def auditor(self) -> str | None:
        """FIN-AUDIT-LATE goes to the auditor: the person recorded when the audit started (docs/rules.md §9);
        None when nobody was, and the policy says who answers then."""
        return self.audit_assignee

    # --------------------------------------------------------------- service at fault (KPI)
    class ServiceFaultDecided(DecisionEvent):
        """DSP-SERVICE-FAULT: tq's finding whether the complaint is the service's own responsibility."""

        wire_type: ClassVar[str] = "ServiceFaultDecided"
        actor: str
        finding: str

        def apply(self, aggregate: Case) -> None:
            aggregate.service_fault = {"at_fault": self.outputs["service_at_fault"], "ground": self.outputs["ground"],
                                       "by": self.actor}  # fmt: skip

    def decide_service_fault(self, actor: Actor, decision: Decision, finding: str, at: dt.datetime,
                             causation_id: str) -> None:  # fmt: skip
        if not decision.outputs["valid"]:
            grounds = ", ".join(decision.outputs["grounds"])
            raise CommandRejected(f"DSP-SERVICE-FAULT: a fault of the service is one of {grounds}")
        current = self.service_fault
        if current is not None and (current["at_fault"], current["ground"]) == (
            decision.outputs["service_at_fault"],
            decision.outputs["ground"],
        ):
            raise CommandRejected(f"{self.complaint_no} already has this finding")
        self._trigger_decision(self.ServiceFaultDecided, decision, at, causation_id, actor=actor.id, finding=finding)

    # ------------------------------------------------------------------------------ follow-up
    class FollowUpScheduled(DecisionEvent):
        """DSP-FOLLOWUP: a quarterly phone follow-up."""

        wire_type: ClassVar[str] = "FollowUpScheduled"

        def apply(self, aggregate: Case) -> None:
            aggregate.followups[int(self.outputs["quarter"])] = "scheduled"

    class FollowUpDue(Event):
        wire_type: ClassVar[str] = "FollowUpDue"
        quarter: int
        customer: dict[str, Any]

        def apply(self, aggregate: Case) -> None:
            aggregate.followups[self.quarter] = "due"

    class FollowUpRecorded(Event):
        wire_type: ClassVar[str] = "FollowUpRecorded"
        actor: str
        quarter: int
        notes: str

        def apply(self, aggregate: Case) -> None:
            aggregate.followups[self.quarter] = "done"

    def schedule_followup(self, decision: Decision, at: dt.datetime, causation_id: str) -> None:
        if int(decision.outputs["quarter"]) not in self.followups:
            self._trigger_decision(self.FollowUpScheduled, decision, at, causation_id)

    def followup_due(self, quarter: int, now: dt.datetime, causation_id: str) -> bool:
        if self.followups.get(quarter) != "scheduled":
            return False
        self._trigger(self.FollowUpDue, now, causation_id, quarter=quarter, customer=self.customer)
        return True

    def record_followup(self, actor: Actor, notes: str, at: dt.datetime, causation_id: str) -> None:
        due = sorted(q for q, state in self.followups.items() if state == "due")
        if not due:
            raise CommandRejected("no follow-up call is due")
        self._trigger(self.FollowUpRecorded, at, causation_id, actor=actor.id, quarter=due[0], notes=notes)

    # -------------------------------------------------------------------------------- fines
    class FineLevied(DecisionEvent):
        """A decision about a person (docs/rules.md §4): rule, amount, the facts that triggered it."""

        wire_type: ClassVar[str] = "FineLevied"
        fine_id: str
        person: str | None
        role: str
        department: str
        amount_fen: int
        reason: str

        def apply(self, aggregate: Case) -> None:
            aggregate.fines[self.fine_id] = {"rule": self.rule, "person": self.person, "role": self.role,
                                             "department": self.department, "amount_fen": self.amount_fen,
                                             "status": "levied", "outputs": dict(self.outputs)}  # fmt: skip

    class IntakeFineNoted(Event):
        """A fine intake levied on this complaint, noted so that it can be disputed and reversed here."""

        wire_type: ClassVar[str] = "IntakeFineNoted"
        fine_id: str
        fine_rule: str
        person: str | None
        role: str
        department: str
        amount_fen: int

        def apply(self, aggregate: Case) -> None:
            aggregate.fines[self.fine_id] = {"rule": self.fine_rule, "person": self.person, "role": self.role,
                                             "department": self.department, "amount_fen": self.amount_fen,
                                             "status": "levied", "outputs": {}}  # fmt: skip

    class PartFineNoted(IntakeFineNoted):
        """A fine the old-parts service levied (FIN-PART-LATE), noted so it can be disputed here."""

        wire_type: ClassVar[str] = "PartFineNoted"

    class FineDisputed(Event):
        wire_type: ClassVar[str] = "FineDisputed"
        fine_id: str
        actor: str
        reason: str

        def apply(self, aggregate: Case) -> None:
            aggregate.fines[self.fine_id]["status"] = "disputed"
            aggregate.fines[self.fine_id].setdefault("disputed_by", []).append(self.actor)

    class FineReversed(Event):
        """A fine reversed by a new event pointing at it; the ledger nets the two."""

        wire_type: ClassVar[str] = "FineReversed"
        fine_id: str
        actor: str
        reason: str
        fine_rule: str
        person: str | None
        role: str
        department: str
        amount_fen: int

        def apply(self, aggregate: Case) -> None:
            aggregate.fines[self.fine_id]["status"] = "reversed"

    def levy_fine(self, decision: Decision, reason: str, key: object, at: dt.datetime, causation_id: str) -> str | None:
        """Levy a fine once per occurrence: `key` names the occurrence (a day late, a command)."""
        fine_id = _uuid(self.id, decision.rule, key)
        if fine_id in self.fines:
            return None
        role = decision.outputs["role"]
        self._trigger_decision(self.FineLevied, decision, at, causation_id, fine_id=fine_id,
                               person=decision.outputs["person"], role=role,
                               department=DEPARTMENTS.get(role, role), amount_fen=decision.outputs["amount_fen"],
                               reason=reason)  # fmt: skip
        return fine_id

    def note_intake_fine(
        self, fine_id: str, rule: str, person: str | None, role: str, department: str, amount_fen: int,
        at: dt.datetime, causation_id: str, source: str = "intake",
    ) -> bool:  # fmt: skip
        """Note a fine another service levied on this complaint, so that it can be disputed and
        reversed here (docs/rules.md §4: any fine can be)."""
        if fine_id in self.fines:
            return False
        event_class = self.PartFineNoted if source == "parts" else self.IntakeFineNoted
        self._trigger(event_class, at, causation_id, fine_id=fine_id, fine_rule=rule, person=person,
                      role=role, department=department, amount_fen=amount_fen)  # fmt: skip
        return True

    def _fine(self, fine_id: str) -> dict[str, Any]:
        try:
            return self.fines[fine_id]
        except KeyError:
            raise CommandRejected(f"no fine {fine_id} on {self.complaint_no}") from None

    def dispute_fine(self, actor: Actor, fine_id: str, reason: str, at: dt.datetime, causation_id: str) -> None:
        fine = self._fine(fine_id)
        if fine["status"] != "levied":
            raise CommandRejected(f"fine {fine_id} is {fine['status']}")
        self._trigger(self.FineDisputed, at, causation_id, fine_id=fine_id, actor=actor.id, reason=reason)

    def reverse_fine(self, actor: Actor, fine_id: str, reason: str, at: dt.datetime, causation_id: str) -> None:
        fine = self._fine(fine_id)
        if fine["status"] == "reversed":
            raise CommandRejected(f"fine {fine_id} was already reversed")
        refuse_own("SOD-OWN-FINE", actor.id, f"reverse fine {fine_id}", fine["person"], *fine.get("disputed_by", []))
        self._trigger(self.FineReversed, at, causation_id, fine_id=fine_id, actor=actor.id, reason=reason,
                      fine_rule=fine["rule"], person=fine["person"], role=fine["role"],
                      department=fine["department"], amount_fen=fine["amount_fen"])  # fmt: skip

    # --------------------------------------------------------------------------- escalations
    class EscalationRaised(DecisionEvent):
        """Carries the ESC-CHAIN decision that set its acknowledgement time (`ack_due_at`)."""

        wire_type: ClassVar[str] = "EscalationRaised"
        escalation_id: str
        trigger_rule: str
        to: str
        reason: str
        ack_due_at: str | None

        def apply(self, aggregate: Case) -> None:
            aggregate.escalations[self.escalation_id] = {"to": self.to, "trigger_rule": self.trigger_rule,
                                                         "status": "open", "ack_due_at": self.ack_due_at}  # fmt: skip

    class IntakeEscalationNoted(DecisionEvent):
        """An escalation intake raised, noted so that it is acknowledged, or escalated further, here."""

        wire_type: ClassVar[str] = "IntakeEscalationNoted"
        escalation_id: str
        trigger_rule: str
        to: str
        ack_due_at: str | None

        def apply(self, aggregate: Case) -> None:
            aggregate.escalations[self.escalation_id] = {"to": self.to, "trigger_rule": self.trigger_rule,
                                                         "status": "open", "ack_due_at": self.ack_due_at}  # fmt: skip

    class EscalationAcknowledged(Event):
        wire_type: ClassVar[str] = "EscalationAcknowledged"
        escalation_id: str
        actor: str
        note: str

        def apply(self, aggregate: Case) -> None:
            aggregate.escalations[self.escalation_id]["status"] = "acknowledged"

    class EscalationForwarded(DecisionEvent):
        """Left unacknowledged past the policy time: passed one level up as a new escalation."""

        wire_type: ClassVar[str] = "EscalationForwarded"
        escalation_id: str
        forwarded_to: str
        forwarded_as: str

        def apply(self, aggregate: Case) -> None:
            aggregate.escalations[self.escalation_id]["status"] = "forwarded"

    def escalate(self, trigger_rule: str, step: Decision, reason: str, at: dt.datetime, causation_id: str) -> None:
        """Raise an escalation to `step.inputs["to"]`; `step` (ESC-CHAIN) says when it goes further up."""
        to = step.inputs["to"]
        escalation_id = _uuid(self.id, "escalation", trigger_rule, to)
        if escalation_id in self.escalations:
            return
        self._trigger_decision(self.EscalationRaised, step, at, causation_id, escalation_id=escalation_id,
                               trigger_rule=trigger_rule, to=to, reason=reason,
                               ack_due_at=step.outputs["due_at"])  # fmt: skip

    def note_intake_escalation(
        self, escalation_id: str, trigger_rule: str, to: str, step: Decision, at: dt.datetime, causation_id: str
    ) -> bool:
        if escalation_id in self.escalations:
            return False
        self._trigger_decision(self.IntakeEscalationNoted, step, at, causation_id, escalation_id=escalation_id,
                               trigger_rule=trigger_rule, to=to, ack_due_at=step.outputs["due_at"])  # fmt: skip
        return True

    def acknowledge(self, actor: Actor, escalation_id: str, note: str, at: dt.datetime, causation_id: str) -> None:
        escalation = self.escalations.get(escalation_id)
        if escalation is None:
            raise CommandRejected(f"no escalation {escalation_id} on {self.complaint_no}")
        if escalation["status"] != "open":
            raise CommandRejected(f"escalation {escalation_id} is {escalation['status']}")
        self._trigger(self.EscalationAcknowledged, at, causation_id, escalation_id=escalation_id, actor=actor.id,
                      note=note)  # fmt: skip

    def forward(self, escalation_id: str, step: Decision, now: dt.datetime, causation_id: str) -> bool:
        escalation = self.escalations.get(escalation_id)
        upper = step.outputs["next"]
        if escalation is None or escalation["status"] != "open" or upper is None:
            return False
        trigger = escalation["trigger_rule"]
        new_id = _uuid(self.id, "escalation", trigger, upper)
        self._trigger_decision(self.EscalationForwarded, step, now, causation_id, escalation_id=escalation_id,
                               forwarded_to=upper, forwarded_as=new_id)  # fmt: skip
        if new_id not in self.escalations:
            reason = f"unacknowledged by {escalation['to']} (due {escalation['ack_due_at']})"
            self._trigger_decision(self.EscalationRaised, step, now, causation_id, escalation_id=new_id,
                                   trigger_rule=trigger, to=upper, ack_due_at=None, reason=reason)  # fmt: skip
        return True
