"""The complaint view: a pure fold of domain events into one JSON document per complaint.

`apply(view, envelope)` is all there is to the projection, so rebuilding from zero gives the same
documents as the live projection did.
"""

from __future__ import annotations

from typing import Any

from shared.events.catalog import ComplaintReceived, SurveyRecorded, payload
from shared.events.envelope import Envelope

View = dict[str, Any]


def new_view(p: ComplaintReceived, envelope: Envelope) -> View:
    return {
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
        "cause": None,
        "level": None,
        "warranty": {"in_warranty": None, "until": None, "extensions": []},
        "deadlines": [],
        "dispatch": None,
        "parts": [],
        "fines": [],
        "escalations": [],
        "surveys": [],
        "history": [],
    }


def apply(view: View | None, envelope: Envelope) -> View | None:
    """Fold one event into the complaint's view; None if the event creates nothing we show."""
    p = payload(envelope)
    if isinstance(p, ComplaintReceived):
        view = new_view(p, envelope)
    elif view is None:
        return None
    elif isinstance(p, SurveyRecorded):
        view["surveys"].append(
            {"rating": p.rating, "satisfied": p.satisfied, "completed_at": p.completed_at.isoformat()}
        )
    view["history"].append(
        {
            "event_id": str(envelope.event_id),
            "type": envelope.type,
            "service": envelope.service,
            "occurred_at": envelope.occurred_at.isoformat(),
        }
    )
    return view
