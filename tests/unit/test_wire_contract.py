"""The wire contract: telephony decoding, the envelope, the catalog and its upcasting."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
import pytest

from shared.events.catalog import Catalog, ComplaintReceived, EventSpec, UnknownEventType, payload
from shared.events.envelope import Envelope, decode_envelope, encode_envelope, event_id_for
from shared.events.telephony import ComplaintReceivedV1, PoisonMessage, SurveyCompletedV1, decode_telephony
from tests.support import body, call


def test_contract_example_decodes() -> None:
    decoded = decode_telephony(body(call("CALL-20261123-000123")))
    assert isinstance(decoded, ComplaintReceivedV1)
    assert decoded.site.distance_km == 420.0
    assert decoded.equipment.acceptance_date == dt.date(2025, 6, 1)


def test_null_acceptance_date_and_distance_are_allowed() -> None:
    message = call("C1")
    message["equipment"]["acceptance_date"] = None
    message["site"]["distance_km"] = None
    decoded = decode_telephony(body(message))
    assert isinstance(decoded, ComplaintReceivedV1)
    assert decoded.equipment.acceptance_date is None


def test_survey_decodes_and_rating_range_is_enforced() -> None:
    survey = {"schema": "SurveyCompleted/1", "call_id": "S1", "complaint_no": "TS-2026-00000001", "rating": 4,
              "completed_at": "2026-11-30T15:02:00+08:00"}  # fmt: skip
    assert isinstance(decode_telephony(body(survey)), SurveyCompletedV1)
    with pytest.raises(PoisonMessage, match="rating"):
        decode_telephony(body({**survey, "rating": 6}))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{oops", "not valid JSON"),
        (b"[]", "field rule broken"),
        (body({**call("C"), "schema": "ComplaintReceived/2"}), "unknown schema"),
        (body({k: v for k, v in call("C").items() if k != "schema"}), "missing `schema`"),
        (body({k: v for k, v in call("C").items() if k != "call_id"}), "`call_id`"),
        (body(call("", kind="fault")), "call_id"),
        (body(call("C", kind="complaint")), "kind"),
        (body(call("C", received_at="2026-11-23T09:15:00")), "UTC offset"),
        (body(call("C", site={"region": "四川", "distance_km": -5})), "distance_km"),
    ],
)
def test_poison_has_a_human_readable_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(PoisonMessage) as info:
        decode_telephony(raw)
    assert reason in str(info.value)


def _envelope(type_: str, version: int, data: dict[str, Any]) -> Envelope:
    aggregate_id = uuid.uuid4()
    return Envelope(
        event_id=event_id_for(aggregate_id, 1),
        type=type_,
        version=version,
        occurred_at=dt.datetime(2026, 11, 23, 1, 15, tzinfo=dt.UTC),
        service="intake",
        position=1,
        aggregate_id=aggregate_id,
        aggregate_version=1,
        correlation_id="TS-2026-00000001",
        causation_id="TELEPHONY:1",
        data=data,
    )


def test_event_id_is_deterministic_per_aggregate_version() -> None:
    aggregate_id = uuid.uuid4()
    assert event_id_for(aggregate_id, 3) == event_id_for(aggregate_id, 3)
    assert event_id_for(aggregate_id, 3) != event_id_for(aggregate_id, 4)


def test_envelope_round_trips_and_payload_is_typed() -> None:
    data: dict[str, Any] = {
        "complaint_no": "TS-2026-00000001", "call_id": "C1", "received_at": "2026-11-23T09:15:00+08:00",
        "kind": "fault", "agent_id": None, "customer": {"name": "甲", "phone": "1"}, "equipment": {},
        "site": {"region": "四川"}, "description": "漏油", "record_incomplete": False, "missing_fields": [],
    }  # fmt: skip
    envelope = _envelope("ComplaintReceived", 1, data)
    again = decode_envelope(encode_envelope(envelope))
    assert again == envelope
    typed = payload(again)
    assert isinstance(typed, ComplaintReceived)
    assert typed.customer.name == "甲"


class ThingV1(msgspec.Struct):
    amount_yuan: int


class ThingV2(msgspec.Struct):
    amount_fen: int
    currency: str


def test_v2_lives_beside_v1_through_an_upcaster() -> None:
    catalog = Catalog()
    catalog.register(EventSpec("Thing", 1, ThingV1, "intake", "old"))
    catalog.register(EventSpec("Thing", 2, ThingV2, "intake", "new"))

    @catalog.upcaster("Thing", 1)
    def yuan_to_fen(data: dict[str, Any]) -> dict[str, Any]:
        return {"amount_fen": data["amount_yuan"] * 100, "currency": "CNY"}

    assert catalog.payload(_envelope("Thing", 1, {"amount_yuan": 50})) == ThingV2(5000, "CNY")
    assert catalog.payload(_envelope("Thing", 2, {"amount_fen": 1, "currency": "CNY"})) == ThingV2(1, "CNY")


def test_unknown_type_or_version_is_refused() -> None:
    catalog = Catalog()
    catalog.register(EventSpec("Thing", 1, ThingV1, "intake", "old"))
    with pytest.raises(UnknownEventType):
        catalog.payload(_envelope("Other", 1, {}))
    with pytest.raises(UnknownEventType):
        catalog.payload(_envelope("Thing", 7, {}))
