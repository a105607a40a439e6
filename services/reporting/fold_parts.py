"""How parts' events show in the complaint view (`view["parts"]`, and FIN-PART-LATE / responsibility
escalations in `view["fines"]` / `view["escalations"]`).

One dict per old part: the PRT-RECORD columns plus due date, hand-in date, delay days, recovery date,
ship date, return, disposition, sale, disposal, responsibility and supplier claim. Delay days come from
the parts service's events (its clock), never from the time the projection runs.
"""

from __future__ import annotations

from typing import Any

import msgspec

from services.reporting.money import yuan
from shared.events import parts_events as e
from shared.events.envelope import Envelope

PartView = dict[str, Any]
# The PRT-RECORD columns a person may complete (CompletePartRecord).
RECORD_COLUMNS = frozenset(
    {"dispatch_order_no", "equipment_no", "material_code", "responsible_engineer", "region", "fault"}
)


def _new_part(p: e.PartRecorded, envelope: Envelope) -> PartView:
    record = msgspec.structs.asdict(p.record)
    return {
        "part_id": p.part_id,
        "complaint_no": p.complaint_no,
        "dispatch_id": p.dispatch_id,
        "dispatch_order_no": record.get("dispatch_order_no"),
        "equipment_no": record.get("equipment_no"),
        "material_code": record.get("material_code"),
        "description": record.get("description"),
        "quantity": record.get("quantity"),
        "unit_price_fen": record.get("unit_price_fen"),
        "total_fen": record.get("total_fen"),
        "responsible_engineer": record.get("responsible_engineer"),
        "region": record.get("region"),
        "fault": record.get("fault"),
        "return_to_hq": record.get("return_to_hq"),
        "completed_on": record.get("completed_on"),
        "due_date": p.outputs["due_date"],
        "due_rule": envelope.rule,
        "hand_in_date": None,
        "delay_days": 0,
        "delay_reason": None,
        "delay_excused": False,
        "recovery_date": None,
        "ship_date": None,
        "returned_date": None,
        "status": "awaiting_hand_in",
        "disposition": "return" if record.get("return_to_hq") else None,
        "disposition_facts": None,
        "sale": None,
        "disposal": None,
        "responsibility": None,
        "supplier_claim": None,
        "fine_id": None,
        "recorded_by": p.recorded_by,
        "record_incomplete": False,  # PRT-RECORD: which fields the record lacks, and whether a sale waits for them
        "record_missing": [],
        "sale_blocked_by": [],
        "recorded_at": envelope.occurred_at.isoformat(),
    }


def _part(view: dict[str, Any], envelope: Envelope) -> PartView | None:
    aggregate_id = str(envelope.aggregate_id)
    for part in view["parts"]:
        if part.get("aggregate_id") == aggregate_id:
            return dict(part)
    return None


def _put(view: dict[str, Any], part: PartView) -> None:
    view["parts"] = [p for p in view["parts"] if p["aggregate_id"] != part["aggregate_id"]] + [part]
    view["parts"].sort(key=lambda p: (p["completed_on"] or "", p["part_id"]))


def fold(view: dict[str, Any], payload: Any, envelope: Envelope) -> bool:
    """Fold one parts event into the complaint view; False if the event is not parts'."""
    if isinstance(payload, e.PartRecorded):
        part = _new_part(payload, envelope)
        part["aggregate_id"] = str(envelope.aggregate_id)
        _put(view, part)
        return True
    existing = _part(view, envelope)
    if existing is None:
        return False
    part = existing
    at = envelope.occurred_at.isoformat()
    p = payload
    if isinstance(p, e.PartRecordIncomplete):
        part.update(record_incomplete=True, record_missing=p.missing,
                    sale_blocked_by=p.outputs.get("sale_blocked_by", []))  # fmt: skip
    elif isinstance(p, e.PartRecordCompleted):
        part.update({name: value for name, value in p.fields.items() if name in RECORD_COLUMNS})
        part.update(record_incomplete=bool(p.missing), record_missing=p.missing,
                    sale_blocked_by=p.outputs.get("sale_blocked_by", []), record_completed_by=p.actor)  # fmt: skip
    elif isinstance(p, e.PartHandInDelayReported):
        part.update(delay_reason=p.reason, delay_excused=p.excuses_fine, expected_hand_in=p.expected_on)
    elif isinstance(p, e.PartOverdue):
        part.update(delay_days=p.delay_days, delay_as_of=at, overdue=True)
    elif isinstance(p, e.PartFineLevied):
        part["fine_id"] = p.fine_id
        view["fines"].append(
            {
                "fine_id": p.fine_id,
                "rule": envelope.rule,
                "policy_version": envelope.policy_version,
                "person": p.person,
                "role": p.role,
                "department": p.department,
                "amount_fen": p.amount_fen,
                "amount_yuan": yuan(p.amount_fen),
                "reason": p.reason,
                "levied_at": at,
                "status": "levied",
                "part_id": part["part_id"],
            }
        )
    elif isinstance(p, e.PartHandedIn):
        part.update(hand_in_date=p.handed_in_on, delay_days=p.delay_days, status="handed_in")
    elif isinstance(p, e.PartRecovered):
        part.update(recovery_date=p.recovered_on, status="recovered")
    elif isinstance(p, e.PartShipped):
        part.update(ship_date=p.shipped_on, waybill=p.waybill, status="shipped")
    elif isinstance(p, e.PartReturned):
        part.update(returned_date=p.received_on, status="returned")
    elif isinstance(p, e.DispositionDecided):
        part.update(
            disposition=p.disposition,
            disposition_facts={"rule": envelope.rule, "inputs": envelope.inputs, "outputs": p.outputs},
        )
    elif isinstance(p, e.SaleReported):
        part["sale"] = {
            "status": "reported",
            "buyer": p.buyer,
            "price_fen": p.price_fen,
            "quotes": msgspec.to_builtins(p.quotes),
            "reason": p.reason,
            "rule": envelope.rule,
            "policy_version": envelope.policy_version,
            "floor_fen": p.outputs["floor_fen"],
            "below_floor": p.outputs["below_floor"],
            "market_value_fen": p.outputs["market_value_fen"],
            "inputs": envelope.inputs,
            "verified_by": None,
            "approved_by": None,
        }
    elif isinstance(p, e.SaleVerified) and part["sale"] is not None:
        part["sale"] = {**part["sale"], "verified_by": p.actor}
    elif isinstance(p, e.SaleApproved) and part["sale"] is not None:
        part["sale"] = {**part["sale"], "approved_by": p.actor}
    elif isinstance(p, e.PartSold):
        part["sale"] = {
            **(part["sale"] or {}),
            "status": "sold",
            "sold_on": at,
            "proceeds_fen": p.proceeds_fen,
            "payable_to": p.payable_to,
            "floor_fen": p.floor_fen,
            "quotes": msgspec.to_builtins(p.quotes),
            "rule": envelope.rule,
        }
        part["status"] = "sold"
    elif isinstance(p, e.DisposalRequested):
        part["disposal"] = {
            "disposition": p.disposition,
            "level": p.outputs["level"],
            "total_fen": p.outputs["total_fen"],
            "approved_by": None,
            "requested_at": at,
            "awaiting": f"{p.outputs['level']} approval ({', '.join(p.outputs['approvers'])})",
        }
    elif isinstance(p, e.DisposalApproved) and part["disposal"] is not None:
        part["disposal"] = {
            **part["disposal"],
            "awaiting": None,
            "approved_by": p.actor,
            "level": p.outputs["level"],
            "total_fen": p.outputs["total_fen"],
        }
    elif isinstance(p, e.DisposalRelevelled) and part["disposal"] is not None:
        # PRT-SCRAP-APPROVAL: the lots of the window now need a higher level; an approval below it is superseded.
        superseded = {"by": p.superseded_approval, "level": p.level_before} if p.superseded_approval else None
        part["disposal"] = {
            **part["disposal"],
            "level": p.outputs["level"],
            "total_fen": p.outputs["total_fen"],
            "approved_by": None,
            "approvers": p.outputs["approvers"],
            "relevelled_at": at,
            **({"superseded_approval": superseded} if superseded else {}),
            "awaiting": f"{p.outputs['level']} approval ({', '.join(p.outputs['approvers'])})",
        }
    elif isinstance(p, e.PartDisposed):
        part["disposal"] = {**(part["disposal"] or {}), "disposed_on": p.disposed_on, "recipient": p.recipient}
        part["status"] = "disposed"
    elif isinstance(p, e.ResponsibilityReviewStarted):
        part["responsibility"] = {
            "part_class": p.part_class,
            "review_date": p.review_date,
            "due_date": p.outputs["due_date"],
            "days": p.outputs["days"],
            "settled_on": None,
            "escalated": False,
        }
    elif isinstance(p, e.ResponsibilityEscalated):
        if part["responsibility"] is not None:
            part["responsibility"] = {**part["responsibility"], "escalated": True}
        view["escalations"].append(
            {
                "escalation_id": p.escalation_id,
                "rule": p.trigger_rule,
                "to": p.to,
                "reason": p.reason,
                "raised_at": at,
                "status": "open",
                "part_id": part["part_id"],
            }
        )
    elif isinstance(p, e.ResponsibilitySettled) and part["responsibility"] is not None:
        part["responsibility"] = {
            **part["responsibility"],
            "settled_on": p.settled_on,
            "late": p.late,
            "attributed_to": p.attributed_to,
            "party": p.party,
            "cost_fen": p.cost_fen,
        }
    elif isinstance(p, e.SupplierClaimOpened):
        part["supplier_claim"] = {
            "claim_id": p.claim_id,
            "supplier": p.supplier,
            "amount_fen": p.amount_fen,
            "status": "open",
            "recovered_fen": None,
        }
    elif isinstance(p, e.SupplierClaimSettled) and part["supplier_claim"] is not None:
        part["supplier_claim"] = {
            **part["supplier_claim"],
            "status": "settled",
            "recovered_fen": p.recovered_fen,
            "settled_on": p.settled_on,
        }
    else:
        return False
    _put(view, part)
    return True
