"""Personal data (docs/rules.md §11): sealing, masking by role (PII-VIEW), erasure, log redaction (PII-LOG)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterable, Iterator

import msgspec
import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from services.intake.policy import missing_fields
from shared.events.telephony import ComplaintReceivedV1
from shared.runtime.logs import RedactingFilter, configure_logging, redact_personal, redact_text
from shared.security.personal import (
    ERASED,
    ERASED_VALUE,
    CustomerKey,
    Revealed,
    SealedValueError,
    customer_subject,
    install_key_reader,
    is_sealed,
    key_id_of,
    mask,
    new_key,
    normalise_phone,
    open_sealed,
    personal_view,
    phone_subject,
    reveal_document,
    reveal_with,
    seal,
    sealed_key_ids,
    shown,
)
from tests.support import body, call


def decode(message: dict[str, object]) -> ComplaintReceivedV1:
    return msgspec.json.decode(body(message), type=ComplaintReceivedV1)


KEY = CustomerKey("k1", bytes(range(32)))
KEYS = {KEY.key_id: KEY.secret}


class Table:
    """A key table in memory, for the pure functions only."""

    def __init__(self, *keys: CustomerKey) -> None:
        self.keys = {k.key_id: k.secret for k in keys}

    def live_keys(self, key_ids: Iterable[str]) -> dict[str, bytes]:
        return {k: self.keys[k] for k in key_ids if k in self.keys}


@pytest.fixture
def reader() -> Iterator[Table]:
    table = Table(KEY)
    install_key_reader(table)
    yield table
    install_key_reader(None)


def test_a_sealed_value_carries_no_clear_text_and_opens_only_as_its_field() -> None:
    sealed = seal("13800000001", "phone", KEY)
    assert sealed is not None
    assert is_sealed(sealed)
    assert sealed.startswith("pii:v1:k1:")
    assert "13800000001" not in sealed
    assert key_id_of(sealed) == "k1"
    assert open_sealed(sealed, "phone", KEYS) == "13800000001"
    with pytest.raises(SealedValueError):  # the field is bound: a sealed phone is no name
        open_sealed(sealed, "name", KEYS)
    with pytest.raises(SealedValueError):  # and a key id cannot be swapped
        open_sealed(sealed.replace("pii:v1:k1:", "pii:v1:k2:"), "phone", {"k2": KEY.secret})
    assert seal("13800000001", "phone", KEY) != sealed  # a fresh nonce each time
    forged = "pii:v1:k1:" + "A" * 40  # a caller's text that looks sealed is sealed all the same
    assert open_sealed(seal(forged, "name", KEY) or "", "name", KEYS) == forged


def test_text_that_looks_sealed_but_does_not_open_shows_nothing_and_breaks_no_read() -> None:
    for bogus in ("pii:v1:", "pii:v1:k1:", "pii:v1:k1:!!!", "pii:v1:k1:" + "A" * 40):
        assert shown(bogus, "phone", "tq", KEYS) == "***"
        assert reveal_document({"customer": {"name": bogus}}, "tq", KEYS) == {"customer": {"name": "***"}}
        assert reveal_with(Table(KEY), [bogus], "agent") == ["***"]


def test_nothing_stays_nothing_so_int_required_decides_the_same_on_sealed_calls() -> None:
    assert seal(None, "name", KEY) is None
    assert seal("  ", "name", KEY) == "  "
    assert seal("", "phone", KEY) == ""
    clear = decode(call("c-1", customer={"name": "张三", "phone": ""}))
    sealed_call = decode(call("c-1", customer={"name": seal("张三", "name", KEY), "phone": seal("", "phone", KEY)}))
    assert missing_fields(clear) == missing_fields(sealed_call)
    assert "customer.phone" in missing_fields(sealed_call)


@pytest.mark.parametrize(
    ("clear", "field", "masked"),
    [
        ("13800000001", "phone", "138****0001"),
        ("+86 138-0000-0001", "phone", "138****0001"),
        ("010-12345678", "phone", "010****5678"),
        ("张三", "name", "张*"),
        ("中铁十局物资公司", "name", "中*******"),
        ("湖南省长沙市岳麓区工地", "address", "湖南省长沙…"),
    ],
)
def test_masks_identify_nobody(clear: str, field: str, masked: str) -> None:
    assert mask(clear, field) == masked  # type: ignore[arg-type]


def test_pii_view_clear_for_tq_and_engineer_masked_for_every_other_role_and_for_nobody(reader: Table) -> None:
    phone = seal("13800000001", "phone", KEY)
    assert personal_view(phone, "phone", "tq") == "13800000001"
    assert personal_view(phone, "phone", "engineer") == "13800000001"
    for role in ("agent", "branch_manager", "gm", "ops", "finance", "viewer", None):
        assert personal_view(phone, "phone", role) == "138****0001"
    assert personal_view("13800000009", "phone", "agent") == "138****0009"  # a record from before sealing
    assert personal_view(None, "phone", "tq") == ""


def test_pii_view_shows_erased_once_the_key_is_destroyed(reader: Table) -> None:
    name = seal("张三", "name", KEY)
    assert personal_view(name, "name", "tq") == "张三"
    del reader.keys[KEY.key_id]
    assert personal_view(name, "name", "tq") == ERASED
    assert personal_view(name, "name", None) == ERASED
    assert open_sealed(name or "", "name", reader.keys) is ERASED_VALUE


def test_a_whole_document_is_revealed_by_role_and_counted() -> None:
    other = new_key()
    view = {
        "complaint_no": "TS-2026-00000001",
        "customer": {"name": seal("张三", "name", KEY), "phone": seal("13800000001", "phone", KEY)},
        "site": {"region": "湖南", "address": seal("长沙市岳麓区某工地", "address", other)},
        "events": [{"fields": {"customer.phone": seal("13900000002", "phone", KEY)}}],
        "agent_id": "agent-1",
    }
    assert sealed_key_ids(view) == {"k1", other.key_id}
    seen = Revealed()
    masked = reveal_document(view, "agent", KEYS, seen)
    assert masked == {
        "complaint_no": "TS-2026-00000001",
        "customer": {"name": "张*", "phone": "138****0001"},
        "site": {"region": "湖南", "address": ERASED},  # its key is not among the live ones
        "events": [{"fields": {"customer.phone": "139****0002"}}],
        "agent_id": "agent-1",
    }
    assert (seen.clear, seen.masked, seen.erased) == (0, 3, 1)
    seen = Revealed()
    clear = reveal_document(view, "tq", KEYS, seen)
    assert isinstance(clear, dict)
    assert clear["customer"] == {"name": "张三", "phone": "13800000001"}
    assert seen.clear == 3
    legacy = reveal_document({"customer": "李四", "phone": "13700000003", "model": "QY25K"}, None, {})
    assert legacy == {"customer": "李*", "phone": "137****0003", "model": "QY25K"}


def test_the_customer_index_is_keyed_and_by_the_normalised_phone() -> None:
    assert normalise_phone("+86 138-0000-0001") == normalise_phone("13800000001") == "13800000001"
    secret = b"s" * 32
    assert phone_subject(secret, "+86 138 0000 0001") == customer_subject(secret, "13800000001", "call-9")
    assert phone_subject(secret, "13800000001") != phone_subject(b"t" * 32, "13800000001")
    assert "13800000001" not in phone_subject(secret, "13800000001")
    assert customer_subject(secret, None, "call-1") != customer_subject(secret, None, "call-2")


def test_pii_log_no_phone_and_no_personal_field_in_a_log_line() -> None:
    event = redact_personal(None, "info", {
        "event": "x", "error": "duplicate key (phone)=(13800000001) and 010-12345678",
        "customer": {"name": "张三"}, "phone": "13800000001", "complaint_no": "TS-2026-00000001",
        "when": "2026-11-23T17:13:35+08:00", "stream_seq": 1234, "nested": ["+86 139 0000 0002"],
    })  # fmt: skip
    text = json.dumps(event, ensure_ascii=False)
    for secret in ("13800000001", "12345678", "张三", "139 0000 0002"):
        assert secret not in text
    assert event["complaint_no"] == "TS-2026-00000001"
    assert event["when"] == "2026-11-23T17:13:35+08:00"
    assert event["customer"] == event["phone"] == "[redacted]"
    assert redact_text("uuid 8f1c2a3b-1380-4000-8001-138000000012") == "uuid 8f1c2a3b-1380-4000-8001-138000000012"


def test_pii_log_configured_logging_redacts_structlog_and_stdlib(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("test")
    try:
        structlog.get_logger().warning("call_failed", reason="caller 13800000001 hung up", customer={"name": "张三"})
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.addFilter(RedactingFilter())
        stdlib = logging.getLogger("test-pii")
        stdlib.addHandler(handler)
        stdlib.warning("insert failed for %s", "13800000001")
        stdlib.removeHandler(handler)
        uvicorn_error = logging.getLogger("uvicorn.error")
        uvicorn_error.addHandler(handler)
        uvicorn_error.error("request from 13900000002 failed")
        uvicorn_error.removeHandler(handler)
    finally:
        structlog.reset_defaults()
        structlog.contextvars.clear_contextvars()
    logged = capsys.readouterr().err + stream.getvalue()
    assert "call_failed" in logged
    assert "insert failed for [redacted]" in logged
    assert "13800000001" not in logged
    assert "张三" not in logged
    assert "request from [redacted] failed" in logged
    assert "13900000002" not in logged


@given(st.text(min_size=1).filter(str.strip), st.sampled_from(["name", "phone", "address"]))
def test_any_text_seals_and_opens_as_itself_and_its_mask_keeps_at_most_seven_digits(text: str, field: str) -> None:
    sealed = seal(text, field, KEY)  # type: ignore[arg-type]
    assert sealed is not None
    assert open_sealed(sealed, field, KEYS) == text  # type: ignore[arg-type]
    if field == "phone":
        assert sum(ch.isdigit() for ch in mask(text, "phone")) <= 7


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_no_mobile_number_survives_redaction(phone: str) -> None:
    assert phone not in redact_text(f"caller={phone}; 电话{phone}。")
