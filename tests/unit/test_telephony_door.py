"""The door (issue 9): each hostile telephony message is refused with a reason an operator can act on."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.events.telephony import ComplaintReceivedV1, DoorLimits, PoisonMessage, decode_telephony
from shared.runtime.deadletter import deadletter_record, header_safe
from shared.runtime.settings import Settings, SettingsError
from tests.support import body, call

CHINA = dt.timezone(dt.timedelta(hours=8))
NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=CHINA)


def refused(raw: bytes, now: dt.datetime | None = NOW, limits: DoorLimits | None = None) -> str:
    with pytest.raises(PoisonMessage) as info:
        decode_telephony(raw, now=now, limits=limits)
    return str(info.value)


def test_a_good_call_passes_the_door() -> None:
    decoded = decode_telephony(body(call("CALL-1", description="油缸漏油\n\t第二行\r")), now=NOW)
    assert isinstance(decoded, ComplaintReceivedV1)
    assert decoded.description == "油缸漏油\n\t第二行\r"


@pytest.mark.parametrize("where", ["description", "customer.name", "agent_id"])
def test_nul_in_any_string_is_refused(where: str) -> None:
    message = call("CALL-NUL")
    if where == "customer.name":
        message["customer"] = {"name": "中铁\u0000十局", "phone": "13800000000"}
    else:
        message[where] = "a\u0000b"
    assert refused(body(message)) == (
        f"control character U+0000 in `$.{where}` (of the C0 controls only tab, newline and carriage return"
        " are allowed)"
    )


def test_other_c0_controls_and_control_characters_in_keys_are_refused() -> None:
    assert "control character U+001B in `$.description`" in refused(body(call("C", description="red\u001b[31m")))
    message = {**call("C"), "x\u0007": "bell"}
    assert "control character U+0007 in `$ (a key)`" in refused(body(message))


def test_invalid_utf8_is_refused() -> None:
    raw = body(call("CALL-UTF8", description="ok")).replace(b'"ok"', b'"o\xffk"')
    offset = raw.index(b"\xff")
    assert refused(raw) == f"not valid UTF-8: byte 0xff at offset {offset} (invalid start byte)"


def test_utf8_encoded_surrogate_is_invalid_utf8() -> None:
    raw = body(call("CALL-SURR", description="ok")).replace(b'"ok"', b'"\xed\xa0\x80"')
    assert refused(raw).startswith("not valid UTF-8: byte 0xed at offset")


def test_lone_surrogate_escape_is_refused() -> None:
    raw = json.dumps(call("CALL-SURR", customer={"name": "\ud800", "phone": "1"})).encode()
    assert refused(raw) == "lone surrogate U+D800 in `$.customer.name`"


def test_duplicate_key_is_refused_in_any_object() -> None:
    top = b'{"schema": "ComplaintReceived/1", "call_id": "A", "call_id": "B"}'
    assert refused(top) == "duplicate key `call_id` in one JSON object"
    nested = body(call("CALL-DUP")).replace(b'"phone"', b'"name": "x", "phone"')
    assert refused(nested) == "duplicate key `name` in one JSON object"


def test_oversize_field_is_refused() -> None:
    limits = DoorLimits(max_field_chars=100)
    assert refused(body(call("C", description="漏" * 101)), limits=limits) == (
        "`$.description` is 101 characters long; the limit is 100"
    )
    assert isinstance(
        decode_telephony(body(call("C", description="漏" * 100)), now=NOW, limits=limits), ComplaintReceivedV1
    )


def test_oversize_message_is_refused_before_it_is_parsed() -> None:
    raw = body(call("CALL-1MB", description="x" * 1_000_000))
    assert refused(raw) == f"message is {len(raw)} bytes; the limit is 65536"


def test_deep_nesting_is_not_json_we_take() -> None:
    assert refused(b"[" * 60_000) == "not valid JSON: nested too deeply"


@pytest.mark.parametrize(
    ("received_at", "reason"),
    [
        ("0001-01-01T00:00:00+08:00", "`received_at` 0001-01-01T00:00:00+08:00 is more than 30 days before"),
        ("9999-12-31T23:59:59+08:00", "`received_at` 9999-12-31T23:59:59+08:00 is more than 1 day after"),
        ("2099-06-01T09:00:00+08:00", "`received_at` 2099-06-01T09:00:00+08:00 is more than 1 day after"),
        ("2027-01-05T09:00:00+08:00", "`received_at` 2027-01-05T09:00:00+08:00 is more than 1 day after"),
        ("2026-10-24T09:59:59+08:00", "`received_at` 2026-10-24T09:59:59+08:00 is more than 30 days before"),
    ],
)
def test_received_at_outside_the_window_is_refused(received_at: str, reason: str) -> None:
    assert (
        refused(body(call("C", received_at=received_at))) == f"{reason} the service clock (2026-11-23T10:00:00+08:00)"
    )


@pytest.mark.parametrize(
    "now", [NOW, dt.datetime(2027, 6, 30, 12, 0, tzinfo=CHINA), dt.datetime(2028, 2, 29, 12, 0, tzinfo=CHINA)]
)
def test_window_edges_are_inside_in_any_year(now: dt.datetime) -> None:
    for received in (now - dt.timedelta(days=30), now + dt.timedelta(days=1), now):
        message = call("C", received_at=received.isoformat())
        assert isinstance(decode_telephony(body(message), now=now), ComplaintReceivedV1)
    late = call("C", received_at=(now + dt.timedelta(days=1, seconds=1)).isoformat())
    assert "after the service clock" in refused(body(late), now=now)


def test_without_a_clock_only_what_the_message_itself_shows_is_checked() -> None:
    """AFTERSALES_CLOCK=external before the first tick: no window, but the acceptance date still."""
    assert isinstance(decode_telephony(body(call("C", received_at="2099-06-01T09:00:00+08:00"))), ComplaintReceivedV1)
    future = call("C", equipment={"serial": "S", "model": "M", "acceptance_date": "2026-11-24"})
    assert refused(body(future), now=None) == (
        "`equipment.acceptance_date` 2026-11-24 is after the call (`received_at` 2026-11-23T09:15:00+08:00):"
        " a unit cannot be accepted in the future"
    )


def test_acceptance_on_the_day_of_the_call_is_fine() -> None:
    same_day = call("C", equipment={"serial": "S", "model": "M", "acceptance_date": "2026-11-23"})
    assert isinstance(decode_telephony(body(same_day), now=NOW), ComplaintReceivedV1)


@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=50))
def test_printable_text_always_passes(text: str) -> None:
    assert isinstance(decode_telephony(body(call("C", description=text)), now=NOW), ComplaintReceivedV1)


@given(st.text(max_size=20), st.sampled_from([c for c in map(chr, range(32)) if c not in "\t\n\r"]))
def test_any_forbidden_control_is_refused(prefix: str, control: str) -> None:
    raw = json.dumps(call("C", description=prefix.replace("\\", "") + control), ensure_ascii=True).encode()
    assert "in `$.description`" in refused(raw)


# --- dead-letter records always fit the broker


def _record(data: bytes, headers: dict[str, str] | None = None, max_bytes: int = 4096) -> dict[str, object]:
    raw = deadletter_record(source="telephony", reason="message is too large", subject="telephony.complaint.received",
                            stream="TELEPHONY", stream_seq=7, headers=headers or {"Nats-Msg-Id": "CALL-1"},
                            data=data, dead_lettered_at=NOW, max_bytes=max_bytes)  # fmt: skip
    assert len(raw) <= max_bytes
    record: dict[str, object] = json.loads(raw)
    return record


def test_a_small_original_is_kept_whole() -> None:
    data = body(call("CALL-1"))
    record = _record(data)
    assert base64.b64decode(str(record["original_b64"])) == data
    assert record["original_truncated"] is False
    assert record["original_size"] == len(data)
    assert record["headers"] == {"Nats-Msg-Id": "CALL-1"}


def test_a_large_original_is_truncated_with_its_size_and_hash() -> None:
    data = b"x" * 1_000_000
    record = _record(data, max_bytes=512 * 1024)
    kept = base64.b64decode(str(record["original_b64"]))
    assert record["original_truncated"] is True
    assert record["original_size"] == 1_000_000
    assert record["original_sha256"] == hashlib.sha256(data).hexdigest()
    assert 300_000 < len(kept) < 1_000_000
    assert data.startswith(kept)


def test_huge_headers_are_dropped_not_the_record() -> None:
    record = _record(b"{}", headers={"X-Big": "h" * 10_000})
    assert record["headers"] == {"Aftersales-Headers-Dropped": "10005 chars"}
    assert base64.b64decode(str(record["original_b64"])) == b"{}"


def test_reason_header_is_one_line() -> None:
    assert header_safe("a\r\nb\x00c") == "a  b c"


def test_limits_come_from_the_environment() -> None:
    env = {"NATS_URL": "nats://127.0.0.1:4222", "DATABASE_URL": "postgresql://postgres@127.0.0.1/test",
           "AFTERSALES_MAX_MESSAGE_BYTES": "1000", "AFTERSALES_MAX_FIELD_CHARS": "50",
           "AFTERSALES_MAX_RECEIVED_AGE_DAYS": "7", "AFTERSALES_MAX_RECEIVED_AHEAD_HOURS": "2",
           "AFTERSALES_MAX_EVENT_BYTES": "100000"}  # fmt: skip
    settings = Settings.from_env(env)
    assert settings.door_limits == DoorLimits(1000, 50, dt.timedelta(days=7), dt.timedelta(hours=2))
    assert settings.max_event_bytes == 100_000
    late = call("C", received_at=(NOW + dt.timedelta(hours=3)).isoformat())
    assert "more than 2 hours after the service clock" in refused(body(late), limits=settings.door_limits)
    with pytest.raises(SettingsError, match="AFTERSALES_MAX_EVENT_BYTES must be between 1 and 524288"):
        Settings.from_env({**env, "AFTERSALES_MAX_EVENT_BYTES": "1048576"})
