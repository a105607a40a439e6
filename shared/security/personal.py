"""Customers' personal data (name, phone, address) at rest and on screen (docs/rules.md §11, PIPL).

At rest: intake seals each field as soon as a call is accepted, with the customer's own key and an
AEAD (AES-256-GCM from `cryptography`), before any decision records it. What the events, the
decisions' inputs, the JetStream messages and the read model then carry is a *sealed string* of the
same type: `pii:v1:<key id>:<base64(nonce ‖ ciphertext ‖ tag)>`, the field name and the key id bound
as associated data (a sealed phone cannot pass for a name). Rules that only test presence keep
working, and hashes over events stay valid when a key is destroyed (crypto-shredding,
`aftersales privacy erase`): the sealed string is still there, it just cannot be opened any more.

On screen: `personal_view` gives the clear text to the roles that need it (PII-VIEW), a masked one
(`138****0001`) to every other role and to an unknown caller, and `已删除` once the key is gone.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import os
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PersonalField = Literal["name", "phone", "address"]
SEALED_PREFIX = "pii:v1:"
ERASED = "已删除"
UNREADABLE = "***"
"""Shown for text that looks sealed but does not open (never made by intake): nothing of it is shown."""
NONCE_BYTES = 12
KEY_BYTES = 32

CLEAR_ROLES = frozenset({"tq", "engineer"})
"""PII-VIEW: who sees a customer's name, phone and address in clear. 技质部 (tq) calls the customer
back and follows up every quarter (001 §6.1.1, §8.1); the engineer contacts the customer and goes to
the site (001 §7.3). Everyone else (the receiving agent included) sees them masked."""

COMPLAINT_FIELDS: dict[str, PersonalField] = {
    "customer.name": "name",
    "customer.phone": "phone",
    "site.address": "address",
}
"""Where personal data sits in a complaint (as dotted field names of INT-REQUIRED / CompleteRecord)."""


@dataclass(frozen=True)
class CustomerKey:
    """One customer's data key; `key_id` is what a sealed string names."""

    key_id: str
    secret: bytes


class KeyReader(Protocol):
    """Reads customers' keys: a key table (`shared.security.keystore`) or, in production, a KMS."""

    def live_keys(self, key_ids: Iterable[str]) -> dict[str, bytes]:
        """The secrets of the keys among `key_ids` that still exist (an erased one is absent)."""
        ...


class SealedValueError(ValueError):
    """A string that claims to be sealed but is not a well-formed sealed string, or fails to open."""


def new_key() -> CustomerKey:
    return CustomerKey(uuid.uuid4().hex, AESGCM.generate_key(bit_length=KEY_BYTES * 8))


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)


def _aad(key_id: str, field: PersonalField) -> bytes:
    return f"{SEALED_PREFIX}{key_id}:{field}".encode()


def seal(value: str | None, field: PersonalField, key: CustomerKey) -> str | None:
    """`value` sealed with `key`. Nothing (None, empty or blank) stays as it is, so a rule that
    tests presence (INT-REQUIRED) decides the same on the sealed record. Anything else is sealed,
    even text that looks sealed (a caller's input is never trusted to be)."""
    if value is None or not value.strip():
        return value
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key.secret).encrypt(nonce, value.encode(), _aad(key.key_id, field))
    return f"{SEALED_PREFIX}{key.key_id}:{base64.b64encode(nonce + sealed).decode()}"


def key_id_of(value: str) -> str:
    """The key id a sealed string names."""
    if not is_sealed(value):
        raise SealedValueError("not a sealed string")
    key_id, sep, _ = value[len(SEALED_PREFIX) :].partition(":")
    if not sep or not key_id:
        raise SealedValueError("a sealed string without its key id")
    return key_id


class Erased:
    """The key of this value was destroyed: it can never be read again."""

    def __repr__(self) -> str:
        return ERASED


ERASED_VALUE = Erased()


def open_sealed(value: str, field: PersonalField, keys: Mapping[str, bytes]) -> str | Erased:
    """The clear text of a sealed string, given the live keys; `ERASED_VALUE` if its key is gone."""
    key_id = key_id_of(value)
    secret = keys.get(key_id)
    if secret is None:
        return ERASED_VALUE
    try:
        blob = base64.b64decode(value[len(SEALED_PREFIX) + len(key_id) + 1 :], validate=True)
        clear = AESGCM(secret).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], _aad(key_id, field))
    except (binascii.Error, InvalidTag, ValueError):
        raise SealedValueError(f"a sealed {field} does not open with its key {key_id}") from None
    return clear.decode()


def reveal(value: str | None, field: PersonalField, keys: Mapping[str, bytes]) -> str | Erased | None:
    """The clear text of a value that may be sealed (records made before sealing are clear)."""
    if value is None or not is_sealed(value):
        return value
    return open_sealed(value, field, keys)


def mask(clear: str, field: PersonalField) -> str:
    """A masked form that identifies nobody: `138****0001`, `张**`, `湖南省长沙…`."""
    text = clear.strip()
    if not text:
        return text
    if field == "phone":
        digits = normalise_phone(text)
        if len(digits) >= 8:
            return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
        return "*" * max(len(digits) - 2, 1) + digits[-2:] if len(digits) > 2 else "*" * len(digits)
    if field == "name":
        return text[0] + "*" * min(max(len(text) - 1, 1), 8)
    return text[: min(6, max(len(text) // 2, 1))] + "…"


def needs_clear(role: str | None) -> bool:
    """PII-VIEW: whether `role` sees personal data in clear (an unknown caller never does)."""
    return role in CLEAR_ROLES


_reader: KeyReader | None = None


def install_key_reader(reader: KeyReader | None) -> None:
    """The process's key reader, used by `personal_view` (set by the process's composition root)."""
    global _reader
    _reader = reader


def shown(value: str | None, field: PersonalField, role: str | None, keys: Mapping[str, bytes]) -> str:
    """What `role` is shown of `value`, given the live keys (see `personal_view`)."""
    try:
        clear = reveal(value, field, keys)
    except SealedValueError:
        return UNREADABLE
    if clear is None:
        return ""
    if isinstance(clear, Erased):
        return ERASED
    return clear if needs_clear(role) else mask(clear, field)


def personal_view(value: str | None, field: PersonalField, role: str | None) -> str:
    """PII-VIEW: the clear text for a role that needs it, a masked one (`138****0001`) for every other
    role and for an unknown caller (`role=None`), `已删除` once the customer's key was destroyed, and
    "" for nothing. A sealed value is opened with the key reader the process installed."""
    if value is not None and is_sealed(value):
        if _reader is None:
            raise RuntimeError("no key reader installed (shared.security.personal.install_key_reader)")
        return shown(value, field, role, _reader.live_keys(sealed_key_ids(value)))
    return shown(value, field, role, {})


# ------------------------------------------------------------------ who the customer is (erasure)

_NOT_DIGITS = re.compile(r"\D")


def normalise_phone(phone: str) -> str:
    """Digits only, without the country code 86 (`+86 138-0000-0001` → `13800000001`)."""
    digits = _NOT_DIGITS.sub("", phone)
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) == 11:
            return digits[len(prefix) :]
    return digits


def customer_subject(index_secret: bytes, phone: str | None, call_id: str) -> str:
    """The keyed index of a customer (HMAC-SHA256 with a secret kept with the keys, never the phone
    itself): by the normalised phone, or by the call when the caller left no phone."""
    phone_digits = normalise_phone(phone or "")
    what = f"phone:{phone_digits}" if phone_digits else f"call:{call_id}"
    return hmac.new(index_secret, what.encode(), hashlib.sha256).hexdigest()


def phone_subject(index_secret: bytes, phone: str) -> str:
    """The keyed index `erase --phone` looks the customer's keys up by."""
    return customer_subject(index_secret, phone, "")


# ------------------------------------------------------------------ whole documents (read API, dossier)

FIELDS: tuple[PersonalField, ...] = ("phone", "name", "address")


def open_any(value: str, keys: Mapping[str, bytes]) -> tuple[PersonalField, str] | Erased:
    """A sealed string whose field is not known from where it sits: the field it was sealed as
    (bound as associated data, so exactly one opens) and its clear text."""
    key_id = key_id_of(value)
    if key_id not in keys:
        return ERASED_VALUE
    for field in FIELDS:
        try:
            clear = open_sealed(value, field, keys)
        except SealedValueError:
            continue
        if isinstance(clear, str):
            return field, clear
    raise SealedValueError(f"a sealed value does not open with its key {key_id}")


def sealed_key_ids(document: object) -> set[str]:
    """The key ids of every sealed string in a JSON-like document."""
    found: set[str] = set()
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if is_sealed(item):
                with contextlib.suppress(SealedValueError):
                    found.add(key_id_of(item))
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return found


@dataclass
class Revealed:
    """What `reveal_document` showed: how many values in clear, masked and erased."""

    clear: int = 0
    masked: int = 0
    erased: int = 0


_HINTS: dict[str, PersonalField] = {
    "phone": "phone", "customer.phone": "phone", "address": "address", "site.address": "address",
    "customer.name": "name", "customer": "name",
}  # fmt: skip
"""Where a complaint document keeps personal data in clear (records made before sealing)."""


def reveal_document(
    document: object, role: str | None, keys: Mapping[str, bytes], seen: Revealed | None = None
) -> object:
    """A copy of a JSON-like document with every sealed string replaced by what `role` is shown
    (PII-VIEW): clear, masked or `已删除`. A clear value where a complaint keeps personal data (a
    record made before sealing) is masked too. `seen` counts them (for the read log)."""
    return _reveal(document, None, role, keys, seen if seen is not None else Revealed())


def _reveal(item: object, hint: PersonalField | None, role: str | None, keys: Mapping[str, bytes],
            seen: Revealed) -> object:  # fmt: skip
    if isinstance(item, str):
        if is_sealed(item):
            try:
                opened = open_any(item, keys)
            except SealedValueError:
                seen.masked += 1
                return UNREADABLE
            if isinstance(opened, Erased):
                seen.erased += 1
                return ERASED
            hint, item = opened
        elif hint is None or not item.strip():
            return item
        if needs_clear(role):
            seen.clear += 1
            return item
        seen.masked += 1
        return mask(item, hint)
    if isinstance(item, Mapping):
        return {k: _reveal(v, "name" if k == "name" and hint == "name" else _HINTS.get(k), role, keys, seen)
                for k, v in item.items()}  # fmt: skip
    if isinstance(item, list | tuple):
        return [_reveal(v, None, role, keys, seen) for v in item]
    return item


def reveal_with(reader: KeyReader, document: object, role: str | None, seen: Revealed | None = None) -> object:
    """`reveal_document` with the keys `reader` holds for this document (one look-up)."""
    return reveal_document(document, role, reader.live_keys(sealed_key_ids(document)), seen)
