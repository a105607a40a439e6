"""Inbound telephony messages (docs/contract.md §1), as published by the call center.

A message that cannot be decoded into one of these structs, or that the door refuses (too large, not
UTF-8, duplicate keys, control characters, a date outside the window: see `decode_telephony`), is
poison: it goes to the dead-letter subject with the reason. Missing *business* fields (INT-REQUIRED)
are not poison: the struct accepts them as empty and intake flags the record incomplete.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

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


@dataclass(frozen=True)
class DoorLimits:
    """What the door lets in (issue 9: one bad input stays one bad input).

    The defaults are the settings' defaults (`shared/runtime/settings.py` reads the overrides from
    the environment). A message within them can always be stored, published and projected.
    """

    max_message_bytes: int = 64 * 1024
    """The whole message (AFTERSALES_MAX_MESSAGE_BYTES); a good call is under 2 KB."""
    max_field_chars: int = 10_000
    """Any one string, key or value (AFTERSALES_MAX_FIELD_CHARS)."""
    max_age: dt.timedelta = dt.timedelta(days=30)
    """`received_at` at most this long before the service clock (AFTERSALES_MAX_RECEIVED_AGE_DAYS)."""
    max_ahead: dt.timedelta = dt.timedelta(days=1)
    """`received_at` at most this long after the service clock (AFTERSALES_MAX_RECEIVED_AHEAD_HOURS)."""


# C0 control characters except tab, newline and carriage return (PostgreSQL cannot store U+0000 in
# text or jsonb, and none of them belongs in a name or description), and lone surrogates (not
# encodable as UTF-8, so not storable either).
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise PoisonMessage(f"duplicate key `{_shown(key)}` in one JSON object")
        obj[key] = value
    return obj


def _shown(text: str, limit: int = 40) -> str:
    """A key as it may appear in a reason: short, and only printable characters."""
    cut = text[:limit].encode("unicode_escape").decode("ascii")
    return cut + ("…" if len(text) > limit else "")


def _suspect(document: Any, max_chars: int) -> bool:
    """Whether any string (keys included) is too long or holds a forbidden character: a quick pass
    without paths; `_check_strings` then says which one and why."""
    stack = [document]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if len(value) > max_chars or _FORBIDDEN.search(value):
                return True
        elif isinstance(value, dict):
            for key in value:
                if len(key) > max_chars or _FORBIDDEN.search(key):
                    return True
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


def _check_strings(value: Any, path: str, limits: DoorLimits) -> None:
    """Every string in the document, keys included: no forbidden character, none too long."""
    if isinstance(value, str):
        _check_string(value, path, limits)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_string(key, f"{path} (a key)", limits)
            _check_strings(item, f"{path}.{_shown(key)}", limits)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_strings(item, f"{path}[{index}]", limits)


def _check_string(text: str, path: str, limits: DoorLimits) -> None:
    if len(text) > limits.max_field_chars:
        raise PoisonMessage(f"`{path}` is {len(text)} characters long; the limit is {limits.max_field_chars}")
    found = _FORBIDDEN.search(text)
    if found is None:
        return
    char = found.group()
    if "\ud800" <= char <= "\udfff":
        raise PoisonMessage(f"lone surrogate U+{ord(char):04X} in `{path}`")
    raise PoisonMessage(
        f"control character U+{ord(char):04X} in `{path}` (of the C0 controls only tab, newline and"
        " carriage return are allowed)"
    )


def _check_dates(message: TelephonyMessage, now: dt.datetime | None, limits: DoorLimits) -> None:
    if not isinstance(message, ComplaintReceivedV1):
        return
    received_at = message.received_at
    if now is not None:
        if received_at > now + limits.max_ahead:
            raise PoisonMessage(
                f"`received_at` {received_at.isoformat()} is more than {_span(limits.max_ahead)} after the"
                f" service clock ({now.isoformat()})"
            )
        if received_at < now - limits.max_age:
            raise PoisonMessage(
                f"`received_at` {received_at.isoformat()} is more than {_span(limits.max_age)} before the"
                f" service clock ({now.isoformat()})"
            )
    acceptance = message.equipment.acceptance_date
    if acceptance is not None and acceptance > received_at.date():
        raise PoisonMessage(
            f"`equipment.acceptance_date` {acceptance.isoformat()} is after the call (`received_at`"
            f" {received_at.isoformat()}): a unit cannot be accepted in the future"
        )


def _span(delta: dt.timedelta) -> str:
    if delta % dt.timedelta(days=1) == dt.timedelta(0):
        days = delta // dt.timedelta(days=1)
        return f"{days} day" + ("s" if days != 1 else "")
    return f"{delta.total_seconds() / 3600:g} hours"


def decode_telephony(raw: bytes, now: dt.datetime | None = None, limits: DoorLimits | None = None) -> TelephonyMessage:
    """Decode one telephony message at the door; raise `PoisonMessage` with a human-readable reason.

    Refused, in this order: a message over `max_message_bytes`; bytes that are not UTF-8; text that
    is not JSON; a duplicate key in any object; in any string (keys too) a C0 control character other
    than tab, newline and carriage return, a lone surrogate, or more than `max_field_chars`
    characters; an unknown schema or a broken field rule; a `received_at` further than
    `max_age` before or `max_ahead` after `now`; an `acceptance_date` after the call.

    `now` is the service clock. Without it (AFTERSALES_CLOCK=external before the first tick, or a
    caller that has no clock) the date window is not checked; what can be checked against the
    message's own `received_at` (the acceptance date) still is.
    """
    limits = limits or DoorLimits()
    if len(raw) > limits.max_message_bytes:
        raise PoisonMessage(f"message is {len(raw)} bytes; the limit is {limits.max_message_bytes}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PoisonMessage(
            f"not valid UTF-8: byte 0x{raw[exc.start]:02x} at offset {exc.start} ({exc.reason})"
        ) from None
    try:
        document = json.loads(text, object_pairs_hook=_refuse_duplicate_keys)
    except PoisonMessage:
        raise
    except ValueError as exc:  # JSONDecodeError, or an integer beyond Python's digit limit
        raise PoisonMessage(f"not valid JSON: {exc}") from None
    except RecursionError:
        raise PoisonMessage("not valid JSON: nested too deeply") from None
    # `json.loads` refuses raw control characters in strings and the UTF-8 check refuses raw
    # surrogates, so a forbidden character can only come through a `\u` escape; and no string is
    # longer than the whole text. Most messages need no walk over their strings.
    if ("\\u" in text or len(text) > limits.max_field_chars) and _suspect(document, limits.max_field_chars):
        _check_strings(document, "$", limits)  # names the string and the reason
    try:
        decoded: TelephonyMessage = _decoder.decode(raw)
    except msgspec.ValidationError as exc:
        reason = str(exc)
        if "Invalid value" in reason and "$.schema" in reason:
            raise PoisonMessage(f"unknown schema: {reason}") from None
        if "Object missing required field `schema`" in reason:
            raise PoisonMessage("missing `schema` field") from None
        raise PoisonMessage(f"field rule broken: {reason}") from None
    except msgspec.DecodeError as exc:
        raise PoisonMessage(f"not valid JSON: {exc}") from None
    _check_dates(decoded, now, limits)
    return decoded
