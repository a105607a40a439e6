"""One complaint as dispatch sees it (派工): from receipt through visit, report and audit, with its
fines and escalations (`Ledger`).

Pure: no I/O, no clock. Time and rule outcomes come in as values (`Decision`s computed by policy);
every decision event records its rule id, policy version, inputs and outputs. Events are the Structs of
`shared.events` (one definition per event); deadlines run on the shared engine
(`shared.domain.deadlines`) under dispatch's own rule ids (DSP-ARRIVE, DSP-REPORT-3WD, DSP-AUDIT-5WD).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TypeVar
from zoneinfo import ZoneInfo

import msgspec

from services.dispatch.identity import CommandRejected, case_id_for, derived_id
from services.dispatch.ledger import Ledger
from services.dispatch.state import Fee, FeeInputs, FollowUpState, Payer, ServiceFault, ServiceForm
from shared.domain.aggregate import applies
from shared.domain.deadline_keeping import KeepsDeadlines
from shared.domain.deadlines import Breach, Deadlines
from shared.events import common_events as ce
from shared.events import dispatch_events as de
from shared.events.decisions import Actor, Decision
from shared.events.values import CustomerInfo, EquipmentInfo, SiteInfo
from shared.security.duties import refuse_own

CHINA = ZoneInfo("Asia/Shanghai")
V = TypeVar("V", CustomerInfo, EquipmentInfo, SiteInfo)


def _as(cls: type[V], value: V | Mapping[str, object]) -> V:
    return value if isinstance(value, cls) else msgspec.convert(value, cls, strict=False)


class Case(Ledger, KeepsDeadlines):
    """The dispatch case; its deadlines' events are applied by `KeepsDeadlines`."""

    received_at: dt.datetime
    kind: str
    agent_id: str | None
    customer: CustomerInfo
    equipment: EquipmentInfo
    site: SiteInfo
    status: str
    on_site: bool | None
    cause: str | None
    classified_by: str | None
    payer: Payer | None
    fee: Fee
    engineer_id: str | None
    excluded: list[str]
    dispatches: int
    deadlines: Deadlines
    arrived_at: dt.datetime | None
    form: ServiceForm | None
    return_approved_at: dt.datetime | None
    returned_at: dt.datetime | None
    left_without_approval: bool
    reported_at: dt.datetime | None
    audited_at: dt.datetime | None
    audit_assignee: str | None
    service_fault: ServiceFault | None
    followups: dict[int, FollowUpState]

    @classmethod
    def open(
        cls, *, complaint_no: str, received_at: dt.datetime, kind: str, agent_id: str | None,
        customer: CustomerInfo | Mapping[str, object], equipment: EquipmentInfo | Mapping[str, object],
        site: SiteInfo | Mapping[str, object], causation_id: str,
    ) -> Case:  # fmt: skip
        return cls._open(de.DispatchCaseOpened, case_id_for(complaint_no), received_at, complaint_no, causation_id,
                         complaint_no=complaint_no, received_at=received_at, kind=kind, agent_id=agent_id,
                         customer=_as(CustomerInfo, customer), equipment=_as(EquipmentInfo, equipment),
                         site=_as(SiteInfo, site))  # fmt: skip

    @applies(de.DispatchCaseOpened)
    def _opened(self, e: de.DispatchCaseOpened) -> None:
        self.complaint_no, self.received_at, self.kind = e.complaint_no, e.received_at, e.kind
        self.agent_id = e.agent_id
        self.customer, self.equipment, self.site = e.customer, e.equipment, e.site
        self.status, self.on_site, self.cause, self.classified_by = "awaiting_classification", None, None, None
        self.payer, self.fee, self.engineer_id, self.excluded, self.dispatches = None, Fee(), None, [], 0
        self.deadlines, self.arrived_at, self.form = Deadlines(), None, None
        self.return_approved_at, self.returned_at, self.left_without_approval = None, None, False
        self.reported_at, self.audited_at, self.audit_assignee, self.service_fault = None, None, None, None
        self.followups, self.fines, self.escalations = {}, {}, {}

    @property
    def dispatch_order_no(self) -> str:
        """审批号: the complaint number and the dispatch's sequence."""
        return f"{self.complaint_no}-D{self.dispatches}"

    # --------------------------------------------------------------------- from intake (upstream)
    @applies(de.OnSiteServiceNeeded)
    def _on_site_needed(self, e: de.OnSiteServiceNeeded) -> None:
        self.on_site, self.cause, self.classified_by = True, e.cause, e.classified_by
        self.equipment, self.site = e.equipment, e.site
        if self.status == "awaiting_classification":
            self.status = "awaiting_payer"

    def need_on_site(
        self, classified_by: str, cause: str, level: int, in_warranty: bool | None,
        equipment: EquipmentInfo | Mapping[str, object], site: SiteInfo | Mapping[str, object], at: dt.datetime,
        causation_id: str,
    ) -> bool:  # fmt: skip
        """INT-CLASSIFY said on-site service is needed: the dispatch begins."""
        if self.engineer_id is not None or self.dispatches:
            return False  # already dispatched: a reclassification changes nothing here
        self._trigger(de.OnSiteServiceNeeded, at, causation_id, classified_by=classified_by, cause=cause,
                      level=level, in_warranty=in_warranty, equipment=_as(EquipmentInfo, equipment),
                      site=_as(SiteInfo, site))  # fmt: skip
        return True

    @applies(de.PayerNoted)
    def _payer_noted(self, e: de.PayerNoted) -> None:
        self.payer = Payer(e.applies, e.payer, e.fee_consent_required)

    def note_payer(self, outputs: Mapping[str, object], at: dt.datetime, causation_id: str) -> bool:
        """Who pays, as intake decided it (WAR-FREE / WAR-MISUSE / WAR-OUT)."""
        if self.dispatches:
            return False
        self._trigger(de.PayerNoted, at, causation_id, applies=outputs.get("applies"), payer=outputs.get("payer"),
                      fee_consent_required=outputs.get("fee_consent_required"))  # fmt: skip
        return True

    def fee_inputs(self) -> FeeInputs | None:
        """DSP-FEE-CONSENT inputs, or None while warranty (and so the payer) is undetermined."""
        if not self.on_site or self.payer is None or self.payer.fee_consent_required is None:
            return None
        return {
            "payer": self.payer.payer,
            "applies": self.payer.applies,
            "fee_consent_required": self.payer.fee_consent_required,
            "consent": self.fee.consent,
            "deputy_gm_approved": self.fee.deputy_gm_approved,
        }

    # ----------------------------------------------------------------------- fee (DSP-FEE-CONSENT)
    @applies(de.FeeConsentDecided)
    def _fee_decided(self, e: de.FeeConsentDecided) -> None:
        may_dispatch = bool(e.outputs["may_dispatch"])
        self.fee = msgspec.structs.replace(self.fee, decided_on=dict(e.inputs),
                                           consent_required=e.outputs["consent_required"],
                                           may_dispatch=may_dispatch)  # fmt: skip
        if not may_dispatch and self.engineer_id is None:
            self.status = "awaiting_deputy_gm" if e.outputs["needs_approval_by"] else "awaiting_fee_consent"

    def decide_fee(self, decision: Decision, at: dt.datetime, causation_id: str) -> None:
        self._decide(de.FeeConsentDecided, decision, at, causation_id)

    @applies(de.FeeConsentRecorded)
    def _consent_recorded(self, e: de.FeeConsentRecorded) -> None:
        self.fee = msgspec.structs.replace(self.fee, consent="accepted" if e.accepted else "refused",
                                           fee_fen=e.fee_fen, plan=e.plan, consent_by=e.actor)  # fmt: skip

    def record_consent(
        self, actor: Actor, accepted: bool, fee_fen: int, plan: str, at: dt.datetime, causation_id: str
    ) -> None:
        if self.fee.consent_required is not True:
            raise CommandRejected(f"{self.complaint_no} needs no fee consent (DSP-FEE-CONSENT): {self.status}")
        if self.fee.consent is not None:
            raise CommandRejected(f"the customer already {self.fee.consent} the fee")
        self._trigger(de.FeeConsentRecorded, at, causation_id, actor=actor.id, accepted=accepted, fee_fen=fee_fen,
                      plan=plan)  # fmt: skip

    @applies(de.DispatchApproved)
    def _dispatch_approved(self, e: de.DispatchApproved) -> None:
        self.fee = msgspec.structs.replace(self.fee, deputy_gm_approved=True)

    def approve_dispatch(self, actor: Actor, reason: str, at: dt.datetime, causation_id: str) -> None:
        """The deputy general manager approves service after the customer refused the fee."""
        if self.fee.consent != "refused":
            raise CommandRejected("the deputy GM approves a dispatch only after the customer refused the fee")
        if self.fee.deputy_gm_approved:
            raise CommandRejected("dispatch was already approved")
        refuse_own("SOD-OWN-FEE", actor.id, "approve the fee exception they recorded", self.fee.consent_by)
        self._trigger(de.DispatchApproved, at, causation_id, actor=actor.id, reason=reason)
        for escalation_id, escalation in list(self.escalations.items()):
            if escalation.to == "deputy_gm" and escalation.status == "open":
                self.acknowledge(actor, escalation_id, f"approved: {reason}", at, causation_id)

    # ------------------------------------------------------------------------- assignment
    @applies(de.EngineerAssigned)
    def _assigned(self, e: de.EngineerAssigned) -> None:
        if e.engineer_id is None:
            self.status = "awaiting_engineer"

    @applies(de.EngineerDispatched)
    def _dispatched(self, e: de.EngineerDispatched) -> None:
        self.engineer_id, self.dispatches, self.status = e.engineer_id, self.dispatches + 1, "dispatched"

    @applies(de.EngineerWithdrawn)
    def _withdrawn(self, e: de.EngineerWithdrawn) -> None:
        self.excluded.append(e.engineer_id)
        self.engineer_id, self.arrived_at = None, None

    @property
    def may_dispatch(self) -> bool:
        return self.fee.may_dispatch and self.engineer_id is None and self.returned_at is None

    def assign(self, decision: Decision, at: dt.datetime, causation_id: str) -> str | None:
        """Record DSP-ASSIGN; when it found an engineer, dispatch them (EngineerDispatched)."""
        engineer_id: str | None = decision.outputs["engineer_id"]
        self._decide(de.EngineerAssigned, decision, at, causation_id, engineer_id=engineer_id)
        if engineer_id is None:
            return None
        region = next((e["region"] for e in decision.inputs["engineers"] if e["engineer_id"] == engineer_id), None)
        self._trigger(de.EngineerDispatched, at, causation_id, engineer_id=engineer_id,
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
        self._trigger(de.EngineerWithdrawn, at, causation_id, engineer_id=engineer_id, actor=actor.id, reason=reason)
        return engineer_id

    # ------------------------------------------------------------------------------ deadlines
    def set_deadline(self, decision: Decision, at: dt.datetime, causation_id: str) -> None:
        """Each of dispatch's deadlines keeps its first setting: DSP-ARRIVE runs from receipt, however
        often the case is (re)dispatched."""
        if self.deadlines.settable(decision.rule, keep_first=True):
            self._decide(ce.DeadlineSet, decision, at, causation_id)

    def breach(self, rule: str, now: dt.datetime, causation_id: str, escalate: Decision | None) -> bool:
        """The clock passed an open deadline: record the breach (and its escalation), once."""
        breach = self.deadlines.breach(rule, now)
        if breach is None:
            return False
        self._record_breach(breach, causation_id, escalate)
        return True

    def _record_breach(self, breach: Breach, causation_id: str, escalate: Decision | None) -> None:
        self._trigger(ce.DeadlineBreached, breach.breached_at, causation_id, deadline=breach.deadline,
                      due_at=breach.due_at, breached_at=breach.breached_at)  # fmt: skip
        if escalate is not None:
            self.escalate(breach.deadline, escalate, breach.reason, breach.breached_at, causation_id)

    def _meet(self, rule: str, at: dt.datetime, causation_id: str, escalate: Decision | None = None) -> None:
        breach, met = self.deadlines.meet(rule, at)
        if breach is not None:
            self._record_breach(breach, causation_id, escalate)
        if met is not None:
            self._trigger(ce.DeadlineMet, at, causation_id, deadline=rule, met_at=met.met_at, late=met.late)

    # ---------------------------------------------------------------------------------- visit
    @applies(de.EngineerArrived)
    def _arrived(self, e: de.EngineerArrived) -> None:
        self.arrived_at, self.status = e.arrived_at, "on_site"

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
        self._trigger(de.EngineerArrived, at, causation_id, engineer_id=engineer_id, arrived_at=at)
        self._meet("DSP-ARRIVE", at, causation_id, escalate)

    @applies(de.ServiceFormSigned)
    def _form_signed(self, e: de.ServiceFormSigned) -> None:
        self.form, self.status = msgspec.convert(e.form, ServiceForm, strict=False), "serviced"

    def sign_form(self, actor: Actor, decision: Decision, at: dt.datetime, causation_id: str) -> None:
        engineer_id = self._require_engineer(actor)
        if self.arrived_at is None:
            raise CommandRejected("record the arrival before the service form")
        if self.form is not None:
            raise CommandRejected("the service form was already signed")
        if not decision.outputs["valid"]:
            raise CommandRejected("DSP-FORM: " + "; ".join(decision.outputs["problems"]))
        self._decide(de.ServiceFormSigned, decision, at, causation_id, engineer_id=engineer_id,
                     dispatch_order_no=self.dispatch_order_no, form=dict(decision.inputs))  # fmt: skip
        form = msgspec.convert(decision.inputs, ServiceForm, strict=False)
        finished = dt.datetime.fromisoformat(form.finished_at)
        if form.parts:
            parts = [self._part_record(index, engineer_id, form, finished) for index in range(len(form.parts))]
            self._trigger(de.PartsReplaced, at, causation_id, complaint_no=self.complaint_no,
                          dispatch_id=str(self.id), parts=parts, completed_at=finished)  # fmt: skip
        self._trigger(de.RepairOutcomeRecorded, at, causation_id, complaint_no=self.complaint_no,
                      serial=self.equipment.serial, engineer_id=engineer_id, problem=form.problem,
                      outcome=form.outcome, stops_work=form.stops_work, completed_at=finished)  # fmt: skip

    def _part_record(self, index: int, engineer_id: str, form: ServiceForm, finished: dt.datetime) -> de.ReplacedPart:
        part = form.parts[index]
        return de.ReplacedPart(
            part_id=derived_id(self.id, "part", self.dispatch_order_no, index),
            dispatch_order_no=self.dispatch_order_no,
            equipment_no=self.equipment.serial or "",
            material_code=part.material_code,
            description=part.description or "",
            quantity=part.quantity,
            unit_price_fen=part.unit_price_fen,
            total_fen=part.quantity * part.unit_price_fen,
            responsible_engineer=engineer_id,
            region=self.site.region or "",
            fault=form.problem,
            return_to_hq=part.return_to_hq,
            completed_on=finished.astimezone(CHINA).date(),
        )

    @applies(de.ReturnApproved)
    def _return_approved(self, e: de.ReturnApproved) -> None:
        self.return_approved_at = e.approved_at

    def approve_return(self, actor: Actor, at: dt.datetime, causation_id: str) -> None:
        """DSP-RETURN-APPROVAL: the technical-quality department lets the engineer leave the site."""
        if self.engineer_id is None or self.arrived_at is None:
            raise CommandRejected("the engineer is not on site")
        if self.return_approved_at is not None or self.returned_at is not None:
            raise CommandRejected("the return was already approved or the engineer has left")
        self._trigger(de.ReturnApproved, at, causation_id, actor=actor.id, approved_at=at)

    @applies(de.EngineerReturned)
    def _returned(self, e: de.EngineerReturned) -> None:
        self.returned_at, self.status = e.returned_at, "returned"
        self.left_without_approval = bool(e.outputs["left_without_approval"])

    def record_return(
        self, actor: Actor, approval: Decision, report: Decision, at: dt.datetime, causation_id: str
    ) -> str:
        engineer_id = self._require_engineer(actor)
        if self.arrived_at is None:
            raise CommandRejected("the engineer never arrived on site")
        if self.returned_at is not None:
            raise CommandRejected("the return was already recorded")
        self._decide(de.EngineerReturned, approval, at, causation_id, engineer_id=engineer_id, returned_at=at)
        self.set_deadline(report, at, causation_id)
        return engineer_id

    # ------------------------------------------------------------------------- report and audit
    @applies(de.ReportFiled)
    def _report_filed(self, e: de.ReportFiled) -> None:
        self.reported_at, self.status = e.reported_at, "reported"

    def file_report(
        self, actor: Actor, summary: str, expense_claim_fen: int, payments_collected_fen: int,
        returned_materials: list[str], audit: Decision, at: dt.datetime, causation_id: str,
    ) -> None:  # fmt: skip
        """DSP-REPORT-3WD: the written report with the form, expense claim, materials and payments."""
        self._require_engineer(actor)
        if self.returned_at is None:
            raise CommandRejected("the report is filed after returning from the site")
        if self.reported_at is not None:
            raise CommandRejected("the report was already filed")
        self._trigger(de.ReportFiled, at, causation_id, actor=actor.id, reported_at=at, summary=summary,
                      expense_claim_fen=expense_claim_fen, payments_collected_fen=payments_collected_fen,
                      returned_materials=returned_materials)  # fmt: skip
        self._meet("DSP-REPORT-3WD", at, causation_id)
        self.set_deadline(audit, at, causation_id)

    @applies(de.AuditCompleted)
    def _audited(self, e: de.AuditCompleted) -> None:
        self.audited_at, self.status = e.audited_at, "audited"

    def audit(
        self, actor: Actor, quality_confirmed: bool, rating_confirmed: bool, cost_approved_fen: int, notes: str,
        escalate: Decision, at: dt.datetime, causation_id: str,
    ) -> None:  # fmt: skip
        if self.reported_at is None:
            raise CommandRejected("the audit follows the engineer's written report")
        if self.audited_at is not None:
            raise CommandRejected("the audit was already recorded")
        self._trigger(de.AuditCompleted, at, causation_id, actor=actor.id, audited_at=at,
                      quality_confirmed=quality_confirmed, rating_confirmed=rating_confirmed,
                      cost_approved_fen=cost_approved_fen, notes=notes)  # fmt: skip
        self._meet("DSP-AUDIT-5WD", at, causation_id, escalate)

    @applies(de.AuditStarted)
    def _audit_started(self, e: de.AuditStarted) -> None:
        self.audit_assignee = e.auditor

    def start_audit(self, actor: Actor, auditor: str, at: dt.datetime, causation_id: str) -> None:
        if self.reported_at is None:
            raise CommandRejected("the audit starts once the engineer's written report is filed (DSP-AUDIT-5WD)")
        if self.audited_at is not None:
            raise CommandRejected("the audit was already recorded")
        if self.audit_assignee == auditor:
            raise CommandRejected(f"{auditor} already audits {self.complaint_no}")
        self._trigger(de.AuditStarted, at, causation_id, actor=actor.id, auditor=auditor)

    @property
    def auditor(self) -> str | None:
        """FIN-AUDIT-LATE goes to the auditor: the person recorded when the audit started (docs/rules.md §9);
        None when nobody was, and the policy says who answers then."""
        return self.audit_assignee

    # --------------------------------------------------------------- service at fault (KPI)
    @applies(de.ServiceFaultDecided)
    def _service_fault(self, e: de.ServiceFaultDecided) -> None:
        self.service_fault = ServiceFault(e.outputs["service_at_fault"], e.outputs["ground"], e.actor)

    def decide_service_fault(
        self, actor: Actor, decision: Decision, finding: str, at: dt.datetime, causation_id: str
    ) -> None:
        if not decision.outputs["valid"]:
            grounds = ", ".join(decision.outputs["grounds"])
            raise CommandRejected(f"DSP-SERVICE-FAULT: a fault of the service is one of {grounds}")
        current = self.service_fault
        if current is not None and (current.at_fault, current.ground) == (
            decision.outputs["service_at_fault"],
            decision.outputs["ground"],
        ):
            raise CommandRejected(f"{self.complaint_no} already has this finding")
        self._decide(de.ServiceFaultDecided, decision, at, causation_id, actor=actor.id, finding=finding)

    # ------------------------------------------------------------------------------ follow-up
    @applies(de.FollowUpScheduled)
    def _followup_scheduled(self, e: de.FollowUpScheduled) -> None:
        self.followups[int(e.outputs["quarter"])] = "scheduled"

    @applies(de.FollowUpDue)
    def _followup_due(self, e: de.FollowUpDue) -> None:
        self.followups[e.quarter] = "due"

    @applies(de.FollowUpRecorded)
    def _followup_recorded(self, e: de.FollowUpRecorded) -> None:
        self.followups[e.quarter] = "done"

    def schedule_followup(self, decision: Decision, at: dt.datetime, causation_id: str) -> None:
        """DSP-FOLLOWUP: a quarterly phone follow-up."""
        if int(decision.outputs["quarter"]) not in self.followups:
            self._decide(de.FollowUpScheduled, decision, at, causation_id)

    def followup_due(self, quarter: int, now: dt.datetime, causation_id: str) -> bool:
        if self.followups.get(quarter) != "scheduled":
            return False
        self._trigger(de.FollowUpDue, now, causation_id, quarter=quarter, customer=self.customer)
        return True

    def record_followup(self, actor: Actor, notes: str, at: dt.datetime, causation_id: str) -> None:
        due = sorted(q for q, state in self.followups.items() if state == "due")
        if not due:
            raise CommandRejected("no follow-up call is due")
        self._trigger(de.FollowUpRecorded, at, causation_id, actor=actor.id, quarter=due[0], notes=notes)
