"""The domain-event envelope (docs/contract.md §3): what every event published on NATS carries."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec

# Headers set on every published domain event.
HDR_MSG_ID = "Nats-Msg-Id"
HDR_EXPECTED_LAST_MSG_ID = "Nats-Expected-Last-Msg-Id"
HDR_POSITION = "Aftersales-Position"
HDR_TYPE = "Aftersales-Type"
HDR_CORRELATION = "Aftersales-Correlation-Id"

EVENT_ID_NAMESPACE = uuid.UUID("5b0b7f44-6a53-4b8e-9d87-3f0f5a0c2a11")


def event_id_for(aggregate_id: uuid.UUID, aggregate_version: int) -> uuid.UUID:
    """Deterministic event id: the same stored event always gets the same id (and `Nats-Msg-Id`)."""
    return uuid.uuid5(EVENT_ID_NAMESPACE, f"{aggregate_id}:{aggregate_version}")


class Envelope(msgspec.Struct, frozen=True, omit_defaults=True):
    """One domain event on the wire.

    `position` is the publishing service's gap-free notification id; consumers track it per
    service so that a redelivered or re-published event has no second effect.
    A decision event also carries `rule`, `policy_version` and the `inputs` the rule used.
    """

    event_id: uuid.UUID
    type: str
    version: int
    occurred_at: dt.datetime
    service: str
    position: int
    aggregate_id: uuid.UUID
    aggregate_version: int
    correlation_id: str
    causation_id: str
    data: dict[str, Any] = msgspec.field(default_factory=dict)
    rule: str | None = None
    policy_version: str | None = None
    inputs: dict[str, Any] | None = None


_encoder = msgspec.json.Encoder(decimal_format="string")
_decoder = msgspec.json.Decoder(Envelope)


def encode_envelope(envelope: Envelope) -> bytes:
    return _encoder.encode(envelope)


def decode_envelope(raw: bytes) -> Envelope:
    return _decoder.decode(raw)
