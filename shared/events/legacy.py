"""Topic aliases: the classes that defined events before `shared.events` Structs did, and the Struct
that defines each now (one table for every service). A stored event under an old topic is decoded from
the library's JSON format and converted to the new Struct (`shared.runtime.mapper`). Add a line here
for every nested event class a migration removes, and for an aggregate class that moved (its created
events name it); never remove a line (old events stay stored)."""

from __future__ import annotations

from typing import Final

_INTAKE = "services.intake.domain"
_INTAKE_EVENTS = "shared.events.intake_events"
_COMMON = "shared.events.common_events"

LEGACY_TOPICS: Final[dict[str, str]] = {
    # intake (before issue 12): nested classes of services/intake/domain.py
    f"{_INTAKE}:Complaint.Received": f"{_INTAKE_EVENTS}:ComplaintReceived",
    f"{_INTAKE}:Complaint.DeadlineSet": f"{_COMMON}:DeadlineSet",
    f"{_INTAKE}:Complaint.DeadlineMet": f"{_COMMON}:DeadlineMet",
    f"{_INTAKE}:Complaint.DeadlineBreached": f"{_COMMON}:DeadlineBreached",
    f"{_INTAKE}:Complaint.FineLevied": f"{_COMMON}:FineLevied",
    f"{_INTAKE}:Complaint.FineAttributed": f"{_COMMON}:FineAttributed",
    f"{_INTAKE}:Complaint.EscalationRaised": f"{_COMMON}:EscalationRaised",
    f"{_INTAKE}:Complaint.Relayed": f"{_INTAKE_EVENTS}:ComplaintRelayed",
    f"{_INTAKE}:Complaint.RecordCompleted": f"{_INTAKE_EVENTS}:RecordCompleted",
    f"{_INTAKE}:Complaint.Classified": f"{_INTAKE_EVENTS}:FaultClassified",
    f"{_INTAKE}:Complaint.CustomerContacted": f"{_INTAKE_EVENTS}:FirstContactRecorded",
    f"{_INTAKE}:Complaint.Answered": f"{_INTAKE_EVENTS}:ConsultationAnswered",
    f"{_INTAKE}:Complaint.SolutionDecided": f"{_INTAKE_EVENTS}:SolutionDecided",
    f"{_INTAKE}:Complaint.LoanerDecided": f"{_INTAKE_EVENTS}:LoanerDecided",
    f"{_INTAKE}:Complaint.WarrantyDecided": f"{_INTAKE_EVENTS}:WarrantyDecided",
    f"{_INTAKE}:Complaint.PaymentDecided": f"{_INTAKE_EVENTS}:PaymentDecided",
    f"{_INTAKE}:Complaint.ExpiryNoticeScheduled": f"{_INTAKE_EVENTS}:ExpiryNoticeScheduled",
    f"{_INTAKE}:Complaint.ExpiryNoticeDue": f"{_INTAKE_EVENTS}:WarrantyExpiryNoticeDue",
    f"{_INTAKE}:Complaint.RepairRecorded": f"{_INTAKE_EVENTS}:RepairRecorded",
    f"{_INTAKE}:Complaint.WarrantyExtended": f"{_INTAKE_EVENTS}:WarrantyExtended",
    f"{_INTAKE}:Complaint.ReplacementDecided": f"{_INTAKE_EVENTS}:ReplacementDecided",
    f"{_INTAKE}:Complaint.Closed": f"{_INTAKE_EVENTS}:ComplaintClosed",
    f"{_INTAKE}:Complaint.SurveyRecorded": f"{_INTAKE_EVENTS}:SurveyRecorded",
    f"{_INTAKE}:VoidNumber.Voided": f"{_INTAKE_EVENTS}:RegisterNumberVoided",
    f"{_INTAKE}:Equipment.Registered": f"{_INTAKE_EVENTS}:EquipmentRegistered",
    f"{_INTAKE}:Equipment.RepairNoted": f"{_INTAKE_EVENTS}:EquipmentRepairNoted",
    f"{_INTAKE}:Equipment.Extended": f"{_INTAKE_EVENTS}:EquipmentWarrantyExtended",
    f"{_INTAKE}:CalendarYear.Published": f"{_INTAKE_EVENTS}:CalendarPublished",
    f"{_INTAKE}:CalendarYear.Republished": f"{_INTAKE_EVENTS}:CalendarRepublished",
    f"{_INTAKE}:Erasure.Erased": f"{_INTAKE_EVENTS}:PersonalDataErased",
}
