"""How dispatch's events show in the complaint view (`view["dispatch"]`, fines, escalations).

Deadlines (DSP-ARRIVE, DSP-REPORT-3WD, DSP-AUDIT-5WD), fines and escalations travel as the shared
`DeadlineSet`/`DeadlineMet`/`DeadlineBreached`/`FineLevied`/`EscalationRaised` events and are folded
by projection.py; this module folds the rest: the dispatch itself, disputes and reversals of fines
(intake's fines too: a reversal names the fine it reverses) and what became of each escalation.
"""

from __future__ import annotations

from typing import Any

import msgspec

from shared.events import dispatch_events as d
from shared.events.envelope import Envelope


def new_dispatch() -> dict[str, Any]:
    return {
        "status": "awaiting_payer",
        "cause": None,
        "classified_by": None,
        "fee": {
            "consent_required": None,
            "may_dispatch": None,
            "consent": None,
            "fee_fen": None,
            "plan": None,
            "approved_by": None,
            "approved_at": None,
        },
        "engineer": None,
        "engineers": [],
        "dispatch_order_no": None,
        "dispatched_at": None,
        "assignment": None,
        "arrived_at": None,
        "form": None,
        "rating": None,
        "return": {"approved_at": None, "approved_by": None, "returned_at": None, "left_without_approval": None},
        "report": None,
        "audit": None,
        "auditor": None,
        "followups": [],
    }


def _dispatch(view: dict[str, Any]) -> dict[str, Any]:
    if view.get("dispatch") is None:
        view["dispatch"] = new_dispatch()
    dispatch: dict[str, Any] = view["dispatch"]
    return dispatch


def _find(items: list[dict[str, Any]], key: str, value: object) -> dict[str, Any] | None:
    return next((item for item in items if item.get(key) == value), None)


def fold(view: dict[str, Any], payload: Any, envelope: Envelope) -> bool:
    """Fold one dispatch event into the complaint view; False if the event is not dispatch's."""
    at = envelope.occurred_at.isoformat()
    p = payload
    if isinstance(p, d.OnSiteServiceNeeded):
        dispatch = _dispatch(view)
        dispatch.update(cause=p.cause, classified_by=p.classified_by)
    elif isinstance(p, d.FeeConsentDecided):
        dispatch = _dispatch(view)
        dispatch["fee"].update(consent_required=p.outputs["consent_required"], may_dispatch=p.outputs["may_dispatch"])
        if not p.outputs["may_dispatch"] and dispatch["engineer"] is None:
            waiting = "awaiting_deputy_gm" if p.outputs.get("needs_approval_by") else "awaiting_fee_consent"
            dispatch["status"] = waiting
    elif isinstance(p, d.FeeConsentRecorded):
        _dispatch(view)["fee"].update(consent="accepted" if p.accepted else "refused", fee_fen=p.fee_fen, plan=p.plan)
    elif isinstance(p, d.DispatchApproved):
        _dispatch(view)["fee"].update(approved_by=p.actor, approved_at=at)
    elif isinstance(p, d.EngineerAssigned):
        dispatch = _dispatch(view)
        dispatch["assignment"] = {"rule": envelope.rule, "at": at, **p.outputs}
        if p.engineer_id is None:
            dispatch["status"] = "awaiting_engineer"
    elif isinstance(p, d.EngineerDispatched):
        dispatch = _dispatch(view)
        dispatch.update(engineer={"id": p.engineer_id, "region": p.region}, dispatch_order_no=p.dispatch_order_no,
                        dispatched_at=p.dispatched_at.isoformat(), status="dispatched")  # fmt: skip
        dispatch["engineers"].append({"id": p.engineer_id, "region": p.region, "dispatched_at": at,
                                      "withdrawn_at": None, "reason": None})  # fmt: skip
    elif isinstance(p, d.EngineerWithdrawn):
        dispatch = _dispatch(view)
        for engineer in dispatch["engineers"]:
            if engineer["id"] == p.engineer_id and engineer["withdrawn_at"] is None:
                engineer.update(withdrawn_at=at, reason=p.reason)
        dispatch.update(engineer=None, arrived_at=None)
    elif isinstance(p, d.EngineerArrived):
        _dispatch(view).update(arrived_at=p.arrived_at.isoformat(), status="on_site")
    elif isinstance(p, d.ServiceFormSigned):
        dispatch = _dispatch(view)
        dispatch.update(form={**p.form, "dispatch_order_no": p.dispatch_order_no, "engineer_id": p.engineer_id,
                              "parts_total_fen": p.outputs.get("parts_total_fen")},
                        rating=p.form.get("rating"), status="serviced")  # fmt: skip
    elif isinstance(p, d.ReturnApproved):
        _dispatch(view)["return"].update(approved_at=p.approved_at.isoformat(), approved_by=p.actor)
    elif isinstance(p, d.EngineerReturned):
        dispatch = _dispatch(view)
        dispatch["return"].update(returned_at=p.returned_at.isoformat(),
                                  left_without_approval=p.outputs["left_without_approval"])  # fmt: skip
        dispatch["status"] = "returned"
    elif isinstance(p, d.ReportFiled):
        dispatch = _dispatch(view)
        dispatch["report"] = {"reported_at": p.reported_at.isoformat(), "by": p.actor, "summary": p.summary,
                              "expense_claim_fen": p.expense_claim_fen,
                              "payments_collected_fen": p.payments_collected_fen,
                              "returned_materials": list(p.returned_materials)}  # fmt: skip
        dispatch["status"] = "reported"
    elif isinstance(p, d.AuditStarted):
        _dispatch(view)["auditor"] = {"id": p.auditor, "assigned_by": p.actor, "at": at}
    elif isinstance(p, d.ServiceFaultDecided):
        # DSP-SERVICE-FAULT: the latest finding stands; the KPI 用户抱怨率 counts the confirmed ones.
        view["service_fault"] = {"at_fault": p.outputs["service_at_fault"], "ground": p.outputs["ground"],
                                 "finding": p.finding, "by": p.actor, "at": at, "rule": envelope.rule,
                                 "policy_version": envelope.policy_version}  # fmt: skip
    elif isinstance(p, d.AuditCompleted):
        dispatch = _dispatch(view)
        dispatch["audit"] = {"audited_at": p.audited_at.isoformat(), "by": p.actor,
                             "quality_confirmed": p.quality_confirmed, "rating_confirmed": p.rating_confirmed,
                             "cost_approved_fen": p.cost_approved_fen, "notes": p.notes}  # fmt: skip
        dispatch["status"] = "audited"
    elif isinstance(p, d.FollowUpScheduled):
        _dispatch(view)["followups"].append({"quarter": p.outputs["quarter"], "due_at": p.outputs["due_at"],
                                             "status": "scheduled", "notes": None})  # fmt: skip
    elif isinstance(p, (d.FollowUpDue, d.FollowUpRecorded)):
        followup = _find(_dispatch(view)["followups"], "quarter", p.quarter)
        if followup is not None:
            followup["status"] = "due" if isinstance(p, d.FollowUpDue) else "done"
            if isinstance(p, d.FollowUpRecorded):
                followup["notes"] = p.notes
    elif isinstance(p, d.FineDisputed):
        fine = _find(view["fines"], "fine_id", p.fine_id)
        if fine is not None:
            fine.update(status="disputed", disputed_by=p.actor, dispute_reason=p.reason, disputed_at=at)
    elif isinstance(p, d.FineReversed):
        fine = _find(view["fines"], "fine_id", p.fine_id)
        if fine is not None:
            fine.update(status="reversed", reversed_by=p.actor, reversal_reason=p.reason, reversed_at=at)
        view.setdefault("fine_reversals", []).append({
            "fine_id": p.fine_id, "rule": p.fine_rule, "person": p.person, "role": p.role,
            "department": p.department, "amount_fen": p.amount_fen, "reason": p.reason, "reversed_by": p.actor,
            "reversed_at": at, "event_id": str(envelope.event_id),
        })  # fmt: skip
    elif isinstance(p, d.IntakeEscalationNoted):
        escalation = _find(view["escalations"], "escalation_id", p.escalation_id)
        if escalation is not None:
            escalation["ack_due_at"] = p.ack_due_at
    elif isinstance(p, d.EscalationAcknowledged):
        escalation = _find(view["escalations"], "escalation_id", p.escalation_id)
        if escalation is not None:
            escalation.update(status="acknowledged", acknowledged_by=p.actor, acknowledged_at=at, note=p.note)
    elif isinstance(p, d.EscalationForwarded):
        escalation = _find(view["escalations"], "escalation_id", p.escalation_id)
        if escalation is not None:
            escalation.update(status="forwarded", forwarded_to=p.forwarded_to, forwarded_as=p.forwarded_as,
                              forwarded_at=at)  # fmt: skip
    else:
        return False
    return True


def fold_engineer(engineer: dict[str, Any] | None, payload: Any, envelope: Envelope) -> dict[str, Any] | None:
    """Fold one roster event into that engineer's row of the roster (DSP-ASSIGN); None if not a roster event."""
    p, at = payload, envelope.occurred_at.isoformat()
    if isinstance(p, d.EngineerRegistered):
        return {"engineer_id": p.engineer_id, "name": p.name, "region": p.region, "skills": list(p.skills),
                "load": p.load, "available": p.available, "registered_at": at, "registered_by": p.actor,
                "updated_at": at}  # fmt: skip
    if engineer is None:
        return None
    if isinstance(p, d.EngineerUpdated):
        changes = msgspec.to_builtins(p.changes)  # only the fields the update gave
        engineer.update({k: v for k, v in changes.items() if k in ("region", "skills", "load", "available")})
    elif isinstance(p, d.EngineerLoadChanged):
        engineer["load"] = max(0, int(engineer["load"]) + p.delta)
    else:
        return None
    engineer["updated_at"] = at
    return engineer


def engineer_of(payload: Any) -> str | None:
    """The engineer a roster event is about (None for RosterOpened and anything else)."""
    return getattr(payload, "engineer_id", None) if isinstance(payload, ROSTER_EVENTS) else None


ROSTER_EVENTS = (d.EngineerRegistered, d.EngineerUpdated, d.EngineerLoadChanged)
