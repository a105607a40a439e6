"""The typed parts of dispatch's aggregate state (no `dict[str, Any]` bags)."""

from __future__ import annotations

from typing import Literal

import msgspec

from shared.events.values import FieldValue

Consent = Literal["accepted", "refused"]
FineStatus = Literal["levied", "disputed", "reversed"]
EscalationStatus = Literal["open", "acknowledged", "forwarded"]
FollowUpState = Literal["scheduled", "due", "done"]
FeeInputs = dict[str, FieldValue]
"""DSP-FEE-CONSENT's inputs: payer, applies, fee_consent_required, consent, deputy_gm_approved."""


class Engineer(msgspec.Struct, frozen=True):
    """An engineer on the roster (售后服务技术人员)."""

    engineer_id: str
    name: str
    region: str
    skills: list[str]
    load: int
    available: bool


class Payer(msgspec.Struct, frozen=True):
    """Who pays, as intake decided it (WAR-FREE / WAR-MISUSE / WAR-OUT)."""

    applies: str | None
    payer: str | None
    fee_consent_required: bool | None


class Fee(msgspec.Struct, frozen=True):
    """DSP-FEE-CONSENT as decided and answered: the customer's consent, the deputy GM's approval."""

    consent_required: bool | None = None
    consent: Consent | None = None
    deputy_gm_approved: bool = False
    may_dispatch: bool = False
    decided_on: FeeInputs | None = None
    """The inputs of the last DSP-FEE-CONSENT decision (decided again only when they change)."""
    fee_fen: int | None = None
    plan: str | None = None
    consent_by: str | None = None
    """Who recorded the customer's answer (SOD-OWN-FEE: not the one who approves the exception)."""


class FormPart(msgspec.Struct, frozen=True):
    material_code: str
    quantity: int
    unit_price_fen: int
    description: str | None = ""
    return_to_hq: bool = True


class ServiceForm(msgspec.Struct, frozen=True):
    """The signed technical service form (技术服务单): DSP-FORM's inputs, as far as dispatch reads them."""

    problem: str
    outcome: str
    stops_work: bool
    finished_at: str
    parts: list[FormPart] = msgspec.field(default_factory=list)


class ServiceFault(msgspec.Struct, frozen=True):
    """DSP-SERVICE-FAULT: the latest finding."""

    at_fault: bool
    ground: str | None
    by: str


class FineEntry(msgspec.Struct, frozen=True):
    """A fine on the complaint's ledger: dispatch's own, or one intake or parts levied (noted here)."""

    rule: str
    person: str | None
    role: str
    department: str
    amount_fen: int
    status: FineStatus = "levied"
    disputed_by: tuple[str, ...] = ()
    """Who disputed it (SOD-OWN-FINE: none of them reverses it)."""


class EscalationEntry(msgspec.Struct, frozen=True):
    to: str
    trigger_rule: str
    ack_due_at: str | None
    status: EscalationStatus = "open"
