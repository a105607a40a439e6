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
_PARTS = "services.parts.domain"
_PARTS_EVENTS = "shared.events.parts_events"
_DISPATCH = "services.dispatch.domain"
_DISPATCH_EVENTS = "shared.events.dispatch_events"

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
    # parts (before issue 12): nested classes of services/parts/domain.py
    f"{_PARTS}:OldPart.Recorded": f"{_PARTS_EVENTS}:PartRecorded",
    f"{_PARTS}:OldPart.RecordIncomplete": f"{_PARTS_EVENTS}:PartRecordIncomplete",
    f"{_PARTS}:OldPart.RecordCompleted": f"{_PARTS_EVENTS}:PartRecordCompleted",
    f"{_PARTS}:OldPart.DelayReported": f"{_PARTS_EVENTS}:PartHandInDelayReported",
    f"{_PARTS}:OldPart.Overdue": f"{_PARTS_EVENTS}:PartOverdue",
    f"{_PARTS}:OldPart.FineLevied": f"{_PARTS_EVENTS}:PartFineLevied",
    f"{_PARTS}:OldPart.HandedIn": f"{_PARTS_EVENTS}:PartHandedIn",
    f"{_PARTS}:OldPart.Recovered": f"{_PARTS_EVENTS}:PartRecovered",
    f"{_PARTS}:OldPart.Shipped": f"{_PARTS_EVENTS}:PartShipped",
    f"{_PARTS}:OldPart.Returned": f"{_PARTS_EVENTS}:PartReturned",
    f"{_PARTS}:OldPart.DispositionDecided": f"{_PARTS_EVENTS}:DispositionDecided",
    f"{_PARTS}:OldPart.SaleReported": f"{_PARTS_EVENTS}:SaleReported",
    f"{_PARTS}:OldPart.SaleVerified": f"{_PARTS_EVENTS}:SaleVerified",
    f"{_PARTS}:OldPart.SaleApproved": f"{_PARTS_EVENTS}:SaleApproved",
    f"{_PARTS}:OldPart.Sold": f"{_PARTS_EVENTS}:PartSold",
    f"{_PARTS}:OldPart.DisposalRequested": f"{_PARTS_EVENTS}:DisposalRequested",
    f"{_PARTS}:OldPart.DisposalApproved": f"{_PARTS_EVENTS}:DisposalApproved",
    f"{_PARTS}:OldPart.DisposalRelevelled": f"{_PARTS_EVENTS}:DisposalRelevelled",
    f"{_PARTS}:OldPart.Disposed": f"{_PARTS_EVENTS}:PartDisposed",
    f"{_PARTS}:OldPart.ReviewStarted": f"{_PARTS_EVENTS}:ResponsibilityReviewStarted",
    f"{_PARTS}:OldPart.Escalated": f"{_PARTS_EVENTS}:ResponsibilityEscalated",
    f"{_PARTS}:OldPart.ResponsibilitySettled": f"{_PARTS_EVENTS}:ResponsibilitySettled",
    f"{_PARTS}:OldPart.SupplierClaimOpened": f"{_PARTS_EVENTS}:SupplierClaimOpened",
    f"{_PARTS}:OldPart.SupplierClaimSettled": f"{_PARTS_EVENTS}:SupplierClaimSettled",
    f"{_PARTS}:MarketPrice.Recorded": f"{_PARTS_EVENTS}:MarketPriceRecorded",
    f"{_PARTS}:MarketPrice.Revised": f"{_PARTS_EVENTS}:MarketPriceRevised",
    f"{_PARTS}:ScrapLedger.Opened": f"{_PARTS_EVENTS}:ScrapLedgerOpened",
    f"{_PARTS}:ScrapLedger.LotAdded": f"{_PARTS_EVENTS}:ScrapLotAdded",
    # dispatch (before issue 12): nested classes of services/dispatch/domain.py
    f"{_DISPATCH}:Roster.Opened": f"{_DISPATCH_EVENTS}:RosterOpened",
    f"{_DISPATCH}:Roster.EngineerRegistered": f"{_DISPATCH_EVENTS}:EngineerRegistered",
    f"{_DISPATCH}:Roster.EngineerUpdated": f"{_DISPATCH_EVENTS}:EngineerUpdated",
    f"{_DISPATCH}:Roster.EngineerLoadChanged": f"{_DISPATCH_EVENTS}:EngineerLoadChanged",
    f"{_DISPATCH}:Case.Opened": f"{_DISPATCH_EVENTS}:DispatchCaseOpened",
    f"{_DISPATCH}:Case.OnSiteServiceNeeded": f"{_DISPATCH_EVENTS}:OnSiteServiceNeeded",
    f"{_DISPATCH}:Case.PayerNoted": f"{_DISPATCH_EVENTS}:PayerNoted",
    f"{_DISPATCH}:Case.FeeConsentDecided": f"{_DISPATCH_EVENTS}:FeeConsentDecided",
    f"{_DISPATCH}:Case.FeeConsentRecorded": f"{_DISPATCH_EVENTS}:FeeConsentRecorded",
    f"{_DISPATCH}:Case.DispatchApproved": f"{_DISPATCH_EVENTS}:DispatchApproved",
    f"{_DISPATCH}:Case.EngineerAssigned": f"{_DISPATCH_EVENTS}:EngineerAssigned",
    f"{_DISPATCH}:Case.EngineerDispatched": f"{_DISPATCH_EVENTS}:EngineerDispatched",
    f"{_DISPATCH}:Case.EngineerWithdrawn": f"{_DISPATCH_EVENTS}:EngineerWithdrawn",
    f"{_DISPATCH}:Case.EngineerArrived": f"{_DISPATCH_EVENTS}:EngineerArrived",
    f"{_DISPATCH}:Case.ServiceFormSigned": f"{_DISPATCH_EVENTS}:ServiceFormSigned",
    f"{_DISPATCH}:Case.PartsReplaced": f"{_DISPATCH_EVENTS}:PartsReplaced",
    f"{_DISPATCH}:Case.RepairOutcomeRecorded": f"{_DISPATCH_EVENTS}:RepairOutcomeRecorded",
    f"{_DISPATCH}:Case.ReturnApproved": f"{_DISPATCH_EVENTS}:ReturnApproved",
    f"{_DISPATCH}:Case.EngineerReturned": f"{_DISPATCH_EVENTS}:EngineerReturned",
    f"{_DISPATCH}:Case.ReportFiled": f"{_DISPATCH_EVENTS}:ReportFiled",
    f"{_DISPATCH}:Case.AuditCompleted": f"{_DISPATCH_EVENTS}:AuditCompleted",
    f"{_DISPATCH}:Case.AuditStarted": f"{_DISPATCH_EVENTS}:AuditStarted",
    f"{_DISPATCH}:Case.ServiceFaultDecided": f"{_DISPATCH_EVENTS}:ServiceFaultDecided",
    f"{_DISPATCH}:Case.FollowUpScheduled": f"{_DISPATCH_EVENTS}:FollowUpScheduled",
    f"{_DISPATCH}:Case.FollowUpDue": f"{_DISPATCH_EVENTS}:FollowUpDue",
    f"{_DISPATCH}:Case.FollowUpRecorded": f"{_DISPATCH_EVENTS}:FollowUpRecorded",
    f"{_DISPATCH}:Case.IntakeFineNoted": f"{_DISPATCH_EVENTS}:IntakeFineNoted",
    f"{_DISPATCH}:Case.PartFineNoted": f"{_DISPATCH_EVENTS}:PartFineNoted",
    f"{_DISPATCH}:Case.FineDisputed": f"{_DISPATCH_EVENTS}:FineDisputed",
    f"{_DISPATCH}:Case.FineReversed": f"{_DISPATCH_EVENTS}:FineReversed",
    f"{_DISPATCH}:Case.IntakeEscalationNoted": f"{_DISPATCH_EVENTS}:IntakeEscalationNoted",
    f"{_DISPATCH}:Case.EscalationAcknowledged": f"{_DISPATCH_EVENTS}:EscalationAcknowledged",
    f"{_DISPATCH}:Case.EscalationForwarded": f"{_DISPATCH_EVENTS}:EscalationForwarded",
    f"{_DISPATCH}:Case.DeadlineBreached": f"{_COMMON}:DeadlineBreached",
    f"{_DISPATCH}:Case.DeadlineMet": f"{_COMMON}:DeadlineMet",
    f"{_DISPATCH}:Case.DeadlineSet": f"{_COMMON}:DeadlineSet",
    f"{_DISPATCH}:Case.EscalationRaised": f"{_COMMON}:EscalationRaised",
    f"{_DISPATCH}:Case.FineLevied": f"{_COMMON}:FineLevied",
    # dispatch's aggregates moved out of domain.py (their created events name them)
    f"{_DISPATCH}:Case": "services.dispatch.case:Case",
    f"{_DISPATCH}:Roster": "services.dispatch.roster:Roster",
}
