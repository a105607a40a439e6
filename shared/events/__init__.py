"""The wire contract shared by all services: inbound telephony messages and domain events."""

from shared.events.catalog import ComplaintReceived, payload, spec_for
from shared.events.envelope import Envelope, decode_envelope, encode_envelope, event_id_for
from shared.events.subjects import SERVICES, Names
from shared.events.telephony import ComplaintReceivedV1, PoisonMessage, SurveyCompletedV1, decode_telephony

__all__ = [
    "SERVICES",
    "ComplaintReceived",
    "ComplaintReceivedV1",
    "Envelope",
    "Names",
    "PoisonMessage",
    "SurveyCompletedV1",
    "decode_envelope",
    "decode_telephony",
    "encode_envelope",
    "event_id_for",
    "payload",
    "spec_for",
]
