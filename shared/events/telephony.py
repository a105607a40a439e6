"""Inbound telephony messages (docs/contract.md §1), as published by the call center.

A message that cannot be decoded into one of these structs is poison: it goes to the dead-letter
subject with the reason msgspec gives. Missing *business* fields (INT-REQUIRED) are not poison: the
struct accepts them as empty and intake flags the record incomplete.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

NonEmpty = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class Customer(msgspec.Struct, frozen=True, forbid_unknown_fields=False):
    name: str | None = None
    phone: str | None = None


class Equipment(msgspec.Struct, frozen=True):
    serial: str | None = None
    model: str | None = None
    acceptance_date: dt.date | None = None


class Site(msgspec.Struct, frozen=True):
    region: str | None = None
    distance_km: Annotated[float, msgspec.Meta(ge=0, le=20000)] | None = None
    address: str | None = None
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)] | None = None
    lon: Annotated[float, msgspec.Meta(ge=-180, le=180)] | None = None


class ComplaintReceivedV1(msgspec.Struct, frozen=True, tag_field="schema", tag="ComplaintReceived/1"):
    """`telephony.complaint.received`: a customer called with a complaint or question."""

    call_id: NonEmpty
    received_at: dt.datetime
    kind: Literal["fault", "consultation"]
    agent_id: str | None = None
    customer: Customer = msgspec.field(default_factory=Customer)
    equipment: Equipment = msgspec.field(default_factory=Equipment)
    site: Site = msgspec.field(default_factory=Site)
    description: str | None = None

    def __post_init__(self) -> None:
        if self.received_at.tzinfo is None:
            raise ValueError("`received_at` must carry a UTC offset")


class SurveyCompletedV1(msgspec.Struct, frozen=True, tag_field="schema", tag="SurveyCompleted/1"):
    """`telephony.survey.completed`: the IVR satisfaction survey after a service."""

    call_id: NonEmpty
    complaint_no: NonEmpty
    rating: Annotated[int, msgspec.Meta(ge=1, le=5)]
    completed_at: dt.datetime

    def __post_init__(self) -> None:
        if self.completed_at.tzinfo is None:
            raise ValueError("`completed_at` must carry a UTC offset")


TelephonyMessage = ComplaintReceivedV1 | SurveyCompletedV1

_decoder = msgspec.json.Decoder(TelephonyMessage)


class PoisonMessage(ValueError):
    """The message can never be processed; it belongs on the dead-letter subject."""


def decode_telephony(raw: bytes) -> TelephonyMessage:
    """Decode one telephony message; raise `PoisonMessage` with a human-readable reason."""
    try:
        decoded: TelephonyMessage = _decoder.decode(raw)
        return decoded
    except msgspec.ValidationError as exc:
        text = str(exc)
        if "Invalid value" in text and "$.schema" in text:
            raise PoisonMessage(f"unknown schema: {text}") from None
        if "Object missing required field `schema`" in text:
            raise PoisonMessage("missing `schema` field") from None
        raise PoisonMessage(f"field rule broken: {text}") from None
    except msgspec.DecodeError as exc:
        raise PoisonMessage(f"not valid JSON: {exc}") from None
