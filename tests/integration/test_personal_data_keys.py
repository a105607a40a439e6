"""PII-SEAL and PII-ERASE in intake against the real key table (docs/rules.md §11)."""

from __future__ import annotations

import base64
import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from services.intake.application import Forbidden, InboundCall, IntakeApplication
from services.intake.domain import CommandRejected
from shared.events import commands as cmd
from shared.events.telephony import ComplaintReceivedV1, decode_telephony
from shared.runtime.settings import Settings
from shared.runtime.store import build_application
from shared.security.keystore import KeyTableLocked, PostgresKeyStore, kek_from_env
from shared.security.personal import ERASED, is_sealed, phone_subject, reveal_with
from shared.security.personal import key_id_of as key_id_of_sealed
from tests.support import body, call

pytestmark = pytest.mark.integration
NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


@pytest.fixture
def app(settings: Settings) -> Iterator[IntakeApplication]:
    application = build_application(IntakeApplication, settings.database_url, settings.names.db_schema("intake"))
    keys = PostgresKeyStore(settings.database_url, settings.names.db_schema("pii"))
    keys.open()
    application.use_keys(keys)
    yield application
    application.close()


def register(app: IntakeApplication, call_id: str, **overrides: Any) -> str:
    decoded = decode_telephony(body(call(call_id, received_at="2026-11-23T09:00:00+08:00", **overrides)))
    assert isinstance(decoded, ComplaintReceivedV1)
    (complaint_no,) = app.register([InboundCall(decoded, f"test:{call_id}")]).registered
    return complaint_no


def key_id_of(value: str | None) -> str:
    """The key id a sealed field names (a field the record has)."""
    assert value is not None, "the field is empty"
    return key_id_of_sealed(value)


def erase(phone: str, role: cmd.Role = "ops") -> cmd.ErasePersonalData:
    return cmd.ErasePersonalData(actor=cmd.Actor(id=f"{role}-1", role=role), phone=phone, reason="客户申请")


def test_one_key_per_customer_erased_only_by_ops_and_a_caller_after_erasure_gets_a_new_key(
    app: IntakeApplication, settings: Settings
) -> None:
    assert app.keys is not None
    first = app.complaint_by_number(register(app, "k-1", customer={"name": "甲", "phone": "13800000001"}))
    second = app.complaint_by_number(register(app, "k-2", customer={"name": "甲", "phone": "+86 138 0000 0001"}))
    other = app.complaint_by_number(register(app, "k-3", customer={"name": "乙", "phone": "13900000002"}))
    phone = first.customer.phone
    assert is_sealed(phone)
    assert is_sealed(first.customer.name)
    assert is_sealed(first.site.address)
    assert key_id_of(phone) == key_id_of(second.customer.phone) != key_id_of(other.customer.phone)
    assert reveal_with(app.keys, msgspec.to_builtins(first.customer), "tq") == {"name": "甲", "phone": "13800000001"}

    with pytest.raises(Forbidden):
        app.erase_personal_data(erase("13800000001", role="tq"), NOW, "test")
    assert app.erase_personal_data(erase("13800000001"), NOW, "test") == ["PersonalDataErased"]
    assert (
        reveal_with(app.keys, msgspec.to_builtins([first.customer, second.customer]), "tq")
        == [{"name": ERASED, "phone": ERASED}] * 2
    )
    assert reveal_with(app.keys, msgspec.to_builtins(other.customer), "tq") == {"name": "乙", "phone": "13900000002"}
    with pytest.raises(CommandRejected, match="no personal data"):
        app.erase_personal_data(erase("13800000001"), NOW, "test")
    subject = phone_subject(app.keys.index_secret(), "13800000001")
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        traces = conn.execute(
            SQL("SELECT count(*) FROM {0}.customer_keys WHERE subject = %s").format(
                Identifier(settings.names.db_schema("pii"))
            ),
            (subject,),
        ).fetchone()
    assert traces == (0,)  # nothing in the key table leads back to the erased phone

    again = app.complaint_by_number(register(app, "k-4", customer={"name": "甲", "phone": "13800000001"}))
    assert key_id_of(again.customer.phone) != key_id_of(phone)
    assert reveal_with(app.keys, again.customer.phone, "engineer") == "13800000001"


def test_a_completed_record_is_sealed_and_erasing_its_phone_erases_what_the_call_sealed_before(
    app: IntakeApplication,
) -> None:
    assert app.keys is not None
    no = register(app, "k-9", customer={"name": "丙", "phone": None})
    agent = cmd.Actor(id="agent-017", role="agent")
    app.execute(cmd.CompleteRecord(complaint_no=no, actor=agent, fields={"customer.phone": "13700000003"}), NOW, "t")
    complaint = app.complaint_by_number(no)
    assert is_sealed(complaint.customer.phone)
    assert complaint.missing_fields == []
    assert reveal_with(app.keys, msgspec.to_builtins(complaint.customer), "tq") == {
        "name": "丙",
        "phone": "13700000003",
    }
    app.execute(cmd.CompleteRecord(complaint_no=no, actor=agent, fields={"site.address": "株洲"}), NOW, "t")
    assert key_id_of(app.complaint_by_number(no).site.address) == key_id_of(complaint.customer.phone)

    app.erase_personal_data(erase("13700000003"), NOW, "test")
    complaint = app.complaint_by_number(no)
    assert reveal_with(app.keys, msgspec.to_builtins([complaint.customer, complaint.site.address]), "tq") == [
        {"name": ERASED, "phone": ERASED},
        ERASED,
    ]
    with pytest.raises(CommandRejected, match="erased"):
        app.execute(cmd.CompleteRecord(complaint_no=no, actor=agent, fields={"customer.name": "丙"}), NOW, "t")


def test_a_phone_completed_as_a_number_is_sealed_too(app: IntakeApplication) -> None:
    assert app.keys is not None
    no = register(app, "k-10", customer={"name": "丁", "phone": None})
    agent = cmd.Actor(id="agent-017", role="agent")
    app.execute(cmd.CompleteRecord(complaint_no=no, actor=agent, fields={"customer.phone": 13600000006}), NOW, "t")
    phone = app.complaint_by_number(no).customer.phone
    assert is_sealed(phone)
    assert reveal_with(app.keys, phone, "tq") == "13600000006"


def test_with_a_key_encryption_key_the_table_holds_no_usable_key_and_opens_only_with_it(
    settings: Settings, tmp_path: Path
) -> None:
    kek = os.urandom(32)
    schema = settings.names.db_schema("pii-kek")
    wrapped = PostgresKeyStore(settings.database_url, schema, kek=kek)
    wrapped.open()
    try:
        subject = phone_subject(wrapped.index_secret(), "13800000001")
        key = wrapped.keys_for([subject])[subject]
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            stored = conn.execute(SQL("SELECT key FROM {0}.customer_keys").format(Identifier(schema))).fetchone()
            secret = conn.execute(SQL("SELECT secret FROM {0}.index_secret").format(Identifier(schema))).fetchone()
        assert stored is not None
        assert secret is not None
        assert key.secret not in bytes(stored[0])
        assert bytes(secret[0]) != wrapped.index_secret()
        assert len(bytes(stored[0])) == 64
    finally:
        wrapped.close()

    without = PostgresKeyStore(settings.database_url, schema, kek=None)
    with pytest.raises(KeyTableLocked, match="AFTERSALES_PII_KEK_FILE"):
        without.open()
    without.close()
    kek_file = tmp_path / "kek"
    kek_file.write_text(base64.b64encode(kek).decode())
    assert kek_from_env({"AFTERSALES_PII_KEK_FILE": str(kek_file)}) == kek
    again = PostgresKeyStore(
        settings.database_url, schema, kek=kek_from_env({"AFTERSALES_PII_KEK_FILE": str(kek_file)})
    )
    again.open()
    try:
        assert again.live_keys([key.key_id]) == {key.key_id: key.secret}
        assert phone_subject(again.index_secret(), "13800000001") == subject
    finally:
        again.close()
    other = PostgresKeyStore(settings.database_url, schema, kek=os.urandom(32))
    with pytest.raises(KeyTableLocked, match="does not open"):
        other.open()
    other.close()
