"""Intake application service: load → decide → save, one method per command. No NATS, no HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec
from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError

from services.intake import policy
from services.intake.domain import Complaint, complaint_id_for
from shared.events.telephony import ComplaintReceivedV1, SurveyCompletedV1
from shared.runtime.store import recorder_of


@dataclass(frozen=True)
class InboundCall:
    call: ComplaintReceivedV1
    causation_id: str


@dataclass
class RegisterOutcome:
    registered: list[str] = field(default_factory=list)
    duplicates: int = 0


class UnknownComplaint(LookupError):
    pass


class IntakeApplication(Application[uuid.UUID]):
    name = "intake"

    def register(self, calls: Sequence[InboundCall]) -> RegisterOutcome:
        """INT-REGISTER + INT-DEDUP for a batch, saved in one transaction.

        A call already registered (in this batch or ever before) is a duplicate and changes nothing.
        """
        outcome = RegisterOutcome()
        unique: dict[uuid.UUID, InboundCall] = {}
        for inbound in calls:
            key = complaint_id_for(inbound.call.call_id)
            if key in unique:
                outcome.duplicates += 1
            else:
                unique[key] = inbound
        recorder = recorder_of(self)
        existing = recorder.existing_aggregates(list(unique))
        outcome.duplicates += len(existing)
        fresh = [inbound for key, inbound in unique.items() if key not in existing]
        if not fresh:
            return outcome
        numbers = recorder.next_register_numbers(len(fresh))
        complaints = [self._receive(inbound, n) for inbound, n in zip(fresh, numbers, strict=True)]
        try:
            self.save(*complaints, lookups=[(f"complaint_no:{c.complaint_no}", c.id) for c in complaints])
        except IntegrityError:
            # Another writer registered one of these calls meanwhile: settle them one at a time.
            return self._register_one_by_one(fresh, outcome)
        outcome.registered += [c.complaint_no for c in complaints]
        return outcome

    def _register_one_by_one(self, calls: Sequence[InboundCall], outcome: RegisterOutcome) -> RegisterOutcome:
        recorder = recorder_of(self)
        for inbound in calls:
            number = recorder.next_register_numbers(1)[0]
            complaint = self._receive(inbound, number)
            try:
                self.save(complaint, lookups=[(f"complaint_no:{complaint.complaint_no}", complaint.id)])
            except IntegrityError:
                outcome.duplicates += 1
            else:
                outcome.registered.append(complaint.complaint_no)
        return outcome

    @staticmethod
    def _receive(inbound: InboundCall, sequence: int) -> Complaint:
        call = inbound.call
        return Complaint.receive(
            complaint_no=policy.register_number(sequence, call.received_at),
            call_id=call.call_id,
            received_at=call.received_at,
            kind=call.kind,
            agent_id=call.agent_id,
            customer=msgspec.to_builtins(call.customer),
            equipment=msgspec.to_builtins(call.equipment),
            site=msgspec.to_builtins(call.site),
            description=call.description,
            missing_fields=policy.missing_fields(call),
            causation_id=inbound.causation_id,
        )

    def complaint_by_number(self, complaint_no: str) -> Complaint:
        aggregate_id = recorder_of(self).lookup(f"complaint_no:{complaint_no}")
        if aggregate_id is None:
            raise UnknownComplaint(f"no complaint {complaint_no}")
        complaint: Complaint = self.repository.get(aggregate_id)
        return complaint

    def record_survey(self, survey: SurveyCompletedV1, causation_id: str) -> bool:
        """Record a satisfaction survey once per survey call; False if it was already recorded."""
        complaint = self.complaint_by_number(survey.complaint_no)
        complaint.record_survey(
            survey_call_id=survey.call_id,
            rating=survey.rating,
            completed_at=survey.completed_at,
            causation_id=causation_id,
        )
        try:
            self.save(complaint, keys=[f"survey:{survey.call_id}"])
        except IntegrityError:
            return False
        return True
