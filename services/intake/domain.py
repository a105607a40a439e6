"""The complaint aggregate (投诉). Pure: no I/O, no clock; time comes in as values."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, ClassVar

from eventsourcing.domain import Aggregate

SATISFIED_RATING = 4
CALL_NAMESPACE = uuid.UUID("0f6f1f0e-2b1d-4a0c-9a55-9d7b8e1c4d21")


def complaint_id_for(call_id: str) -> uuid.UUID:
    """INT-DEDUP: one telephony call is one complaint, so the call id *is* the aggregate identity."""
    return uuid.uuid5(CALL_NAMESPACE, call_id)


class Complaint(Aggregate):
    class Received(Aggregate.Created):
        """INT-REGISTER: the complaint is registered under its register number."""

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
        self.surveys: list[dict[str, Any]] = []

    class SurveyRecorded(Aggregate.Event):
        """Satisfaction (CONTRACT §1): a rating of 4 or 5 counts as satisfied."""

        wire_type: ClassVar[str] = "SurveyRecorded"
        survey_call_id: str
        rating: int
        satisfied: bool
        completed_at: dt.datetime
        correlation_id: str
        causation_id: str

        def apply(self, aggregate: Complaint) -> None:
            aggregate.surveys.append(
                {"rating": self.rating, "satisfied": self.satisfied, "completed_at": self.completed_at}
            )

    def record_survey(self, *, survey_call_id: str, rating: int, completed_at: dt.datetime, causation_id: str) -> None:
        self.trigger_event(
            self.SurveyRecorded,
            timestamp=completed_at,
            survey_call_id=survey_call_id,
            rating=rating,
            satisfied=rating >= SATISFIED_RATING,
            completed_at=completed_at,
            correlation_id=self.complaint_no,
            causation_id=causation_id,
        )

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
            correlation_id=complaint_no,
            causation_id=causation_id,
        )
