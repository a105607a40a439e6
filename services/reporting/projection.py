"""The complaint view: a pure fold of domain events into one JSON document per complaint.

`apply(view, envelope)` is all there is to the projection, so rebuilding from zero gives the same
documents as the live projection did. `fold_batch` applies a batch as the store delivers it (with the
events kept for a complaint not projected yet), `fold_roster` the engineer roster's events; the store
(`application.py`) only loads what they need and saves what they return.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.reporting import fold_dispatch, fold_parts
from services.reporting.money import yuan
from shared.events import catalog as c
from shared.events.dispatch_events import ROSTER_CORRELATION
from shared.events.envelope import Envelope

View = dict[str, Any]

NOT_ABOUT_A_COMPLAINT = frozenset({"CalendarPublished", "PersonalDataErased"})
"""Events with no complaint and no register row (the working calendar is policy data, docs/rules.md §9;
an erasure destroys keys, and the read model shows `已删除` without changing, docs/rules.md §11)."""


def new_view(p: c.ComplaintReceived, envelope: Envelope) -> View:
    view: View = {
        "complaint_no": p.complaint_no,
        "call_id": p.call_id,
        "aggregate_id": str(envelope.aggregate_id),
        "status": "registered",
        "kind": p.kind,
        "received_at": p.received_at.isoformat(),
        "agent_id": p.agent_id,
        "customer": {"name": p.customer.name, "phone": p.customer.phone},
        "equipment": {
            "serial": p.equipment.serial,
            "model": p.equipment.model,
            "acceptance_date": None if p.equipment.acceptance_date is None else p.equipment.acceptance_date.isoformat(),
        },
        "site": {"region": p.site.region, "distance_km": p.site.distance_km, "address": p.site.address},
        "description": p.description,
        "record_incomplete": p.record_incomplete,
        "missing_fields": list(p.missing_fields),
        "relayed_at": None,
        "cause": None,
        "level": None,
        "on_site": None,
        "solution": None,
        "answer": None,
        "outcome": None,
        "warranty": {
            "in_warranty": None,
            "until": None,
            "extensions": [],
            "payer": None,
            "loaner": None,
            "replacement": False,
            "expiry_notice_at": None,
        },
        "deadlines": [],
        "repairs": [],
        "dispatch": None,
        "parts": [],
        "first_contact": None,
        "fines": [],
        "escalations": [],
        "surveys": [],
        "history": [],
    }
    for record in p.decisions:
        _decision(view, record["rule"], record["outputs"])
    return view


def _deadline(view: View, rule: str) -> dict[str, Any]:
    for deadline in view["deadlines"]:
        if deadline["rule"] == rule:
            return dict(deadline)
    return {"rule": rule, "due_at": None, "met_at": None, "breached": False, "breached_at": None}


def _put_deadline(view: View, deadline: dict[str, Any]) -> None:
    view["deadlines"] = [d for d in view["deadlines"] if d["rule"] != deadline["rule"]] + [deadline]


def _decision(view: View, rule: str, outputs: dict[str, Any]) -> None:
    if rule == "WAR-PERIOD":
        view["warranty"]["in_warranty"] = outputs["in_warranty"]
        view["warranty"]["until"] = outputs["until"]
    elif rule == "WAR-EXPIRY-NOTICE":
        view["warranty"]["expiry_notice_at"] = outputs["notice_at"]
    elif "due_at" in outputs:
        deadline = _deadline(view, rule)
        deadline["due_at"] = outputs["due_at"]
        _put_deadline(view, deadline)


def _fold(view: View, p: Any, envelope: Envelope) -> None:
    if isinstance(p, c.DecisionOutputs):
        rule = envelope.rule or ""
        if envelope.type == "PaymentDecided":
            view["warranty"]["payer"] = p.outputs
        elif envelope.type == "LoanerDecided":
            view["warranty"]["loaner"] = p.outputs
        elif envelope.type == "WarrantyExtended":
            view["warranty"]["extensions"].append({"days": p.outputs["days"], "at": envelope.occurred_at.isoformat()})
        elif envelope.type == "ReplacementDecided":
            view["warranty"]["replacement"] = True
        else:
            _decision(view, rule, p.outputs)
    elif isinstance(p, c.DeadlineMet):
        deadline = _deadline(view, p.deadline)
        deadline["met_at"] = p.met_at.isoformat()
        _put_deadline(view, deadline)
    elif isinstance(p, c.DeadlineBreached):
        deadline = _deadline(view, p.deadline)
        deadline.update(breached=True, breached_at=p.breached_at.isoformat())
        _put_deadline(view, deadline)
    elif isinstance(p, c.FineLevied):
        view["fines"].append({
            "fine_id": p.fine_id, "rule": envelope.rule, "policy_version": envelope.policy_version,
            "person": p.person, "role": p.role, "department": p.department, "amount_fen": p.amount_fen,
            "amount_yuan": yuan(p.amount_fen), "reason": p.reason,
            "levied_at": envelope.occurred_at.isoformat(), "status": "levied",
            "unattributed": not p.person,  # docs/rules.md §9: the branch manager attributes it
        })  # fmt: skip
    elif isinstance(p, c.FineAttributed):
        for fine in view["fines"]:
            if fine["fine_id"] == p.fine_id:
                fine.update(person=p.person, role=p.role, department=p.department, unattributed=False,
                            attributed_by=p.actor, attributed_at=envelope.occurred_at.isoformat(),
                            attribution_reason=p.reason)  # fmt: skip
    elif isinstance(p, c.FirstContactRecorded):
        view["first_contact"] = {"by": p.actor, "role": p.role, "channel": p.channel, "agreed": p.agreed,
                                 "visit_at": None if p.visit_at is None else p.visit_at.isoformat(),
                                 "contacted_at": p.contacted_at.isoformat()}  # fmt: skip
    elif isinstance(p, c.EscalationRaised):
        view["escalations"].append({
            "escalation_id": p.escalation_id, "rule": p.trigger_rule, "to": p.to, "reason": p.reason,
            "raised_at": envelope.occurred_at.isoformat(), "status": "open", "ack_due_at": p.ack_due_at,
        })  # fmt: skip
    elif isinstance(p, c.ComplaintRelayed):
        view["relayed_at"] = p.relayed_at.isoformat()
        view["status"] = "relayed" if view["status"] == "registered" else view["status"]
    elif isinstance(p, c.RecordCompleted):
        for name, value in p.fields.items():
            group, _, key = name.partition(".")
            if key and isinstance(view.get(group), dict):
                view[group][key] = value
            elif not key:
                view[group] = value
        view["missing_fields"] = list(p.missing_fields)
        view["record_incomplete"] = bool(p.missing_fields)
    elif isinstance(p, c.FaultClassified):
        view.update(cause=p.cause, level=p.level, on_site=p.on_site)
        view["status"] = "classified" if view["status"] in ("registered", "relayed") else view["status"]
    elif isinstance(p, c.ConsultationAnswered):
        view.update(answer=p.answer, status="answered")
    elif isinstance(p, c.SolutionDecided):
        view.update(solution=p.solution, status="solution_decided")
    elif isinstance(p, c.RepairRecorded):
        view["repairs"].append({"problem": p.problem, "outcome": p.outcome, "stops_work": p.stops_work,
                                "at": envelope.occurred_at.isoformat()})  # fmt: skip
    elif isinstance(p, c.ComplaintClosed):
        view.update(status="closed", outcome=p.outcome)
    elif isinstance(p, c.SurveyRecorded):
        view["surveys"].append(
            {"rating": p.rating, "satisfied": p.satisfied, "completed_at": p.completed_at.isoformat()}
        )
    elif isinstance(p, c.WarrantyExpiryNoticeDue):
        view["warranty"]["expiry_notice_due"] = p.until
    elif envelope.service == "dispatch":
        fold_dispatch.fold(view, p, envelope)
    elif envelope.service == "parts":
        fold_parts.fold(view, p, envelope)


def void_view(p: c.RegisterNumberVoided, envelope: Envelope) -> View:
    """INT-REGISTER: a void number keeps its row in the tracking register, with the reason, so the
    register has no gap; it is no complaint (no call, no KPI). Dated when it was found void."""
    blank = c.ComplaintReceived(**c.envelope_fields(envelope), complaint_no=p.complaint_no,
                                call_id=f"void:{p.complaint_no}", received_at=p.voided_at, kind="void",
                                agent_id=None, customer=c.CustomerInfo(), equipment=c.EquipmentInfo(),
                                site=c.SiteInfo(), description=None, record_incomplete=False,
                                missing_fields=[])  # fmt: skip
    view = new_view(blank, envelope)
    view["status"] = "void"
    view["void_reason"] = p.reason
    return view


def apply(view: View | None, envelope: Envelope) -> View | None:
    """Fold one event into the complaint's view; None for an event about no complaint we show."""
    p = c.payload(envelope)
    if isinstance(p, c.ComplaintReceived):
        view = new_view(p, envelope)
    elif isinstance(p, c.RegisterNumberVoided):
        view = void_view(p, envelope)
    elif view is None:
        return None
    else:
        _fold(view, p, envelope)
    view["history"].append({"event_id": str(envelope.event_id), "type": envelope.type, "service": envelope.service,
                            "occurred_at": envelope.occurred_at.isoformat(), "rule": envelope.rule})  # fmt: skip
    return view


@dataclass
class Folded:
    """What a batch of events does to the read model (`fold_batch`)."""

    views: dict[str, View | None]
    """By complaint number: every view loaded for the batch, folded."""
    parked: list[tuple[str, Envelope]] = field(default_factory=list)
    """Events whose complaint is not projected yet (streams are consumed independently): kept until
    the complaint's ComplaintReceived arrives."""
    unparked: list[int] = field(default_factory=list)
    """The kept events (by their sequence number) now applied."""
    roster: list[Envelope] = field(default_factory=list)
    """Dispatch's roster events (about no complaint), in order, for `fold_roster`."""


def fold_batch(views: Mapping[str, View | None], kept: Mapping[str, Sequence[tuple[int, Envelope]]],
               fresh: Sequence[Envelope]) -> Folded:  # fmt: skip
    """Fold the new events of a batch into the views of their complaints (`views`, as stored), with the
    events kept earlier for those complaints (`kept`: by complaint, (sequence number, event) in order)."""
    folded = Folded(dict(views))
    waiting = {key: list(events) for key, events in kept.items()}
    for envelope in fresh:
        key = envelope.correlation_id
        if envelope.type in NOT_ABOUT_A_COMPLAINT:
            continue
        if key == ROSTER_CORRELATION and envelope.service == "dispatch":
            # The roster is about no complaint. Roster events kept by an older projector go first.
            for seq, earlier in waiting.pop(key, []):
                folded.roster.append(earlier)
                folded.unparked.append(seq)
            folded.roster.append(envelope)
            continue
        view = apply(folded.views.get(key), envelope)
        if view is None:
            folded.parked.append((key, envelope))
            continue
        for seq, earlier in waiting.pop(key, []):
            view = apply(view, earlier) or view
            folded.unparked.append(seq)
        folded.views[key] = view
    return folded


def roster_engineers(roster: Sequence[Envelope]) -> list[str]:
    """The engineers the roster events are about, sorted (the order their rows are locked in)."""
    return sorted({e for e in (fold_dispatch.engineer_of(c.payload(envelope)) for envelope in roster) if e})


def fold_roster(engineers: Mapping[str, dict[str, Any]], roster: Sequence[Envelope]) -> dict[str, dict[str, Any]]:
    """Fold roster events into the engineers' rows (`engineers`, as stored, by id); the rows they changed."""
    current: dict[str, dict[str, Any]] = dict(engineers)
    changed: dict[str, dict[str, Any]] = {}
    for envelope in roster:
        payload = c.payload(envelope)
        engineer_id = fold_dispatch.engineer_of(payload)
        if engineer_id is None:
            continue
        engineer = fold_dispatch.fold_engineer(current.get(engineer_id), payload, envelope)
        if engineer is not None:
            current[engineer_id] = changed[engineer_id] = engineer
    return changed
