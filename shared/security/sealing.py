"""PII-SEAL at intake's door: a call's personal fields, and a record completion's, with the customer's key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from shared.events.telephony import ComplaintReceivedV1
from shared.security.keystore import CustomerKeyStore
from shared.security.personal import COMPLAINT_FIELDS, CustomerKey, customer_subject, seal, sealed_key_ids


class Sealer:
    """Seals with the keys of `store` (docs/rules.md §11): one key per customer, the customer being
    the normalised phone, or the call when the caller left none."""

    def __init__(self, store: CustomerKeyStore) -> None:
        self.store = store

    def seal_calls(self, calls: Sequence[ComplaintReceivedV1]) -> list[ComplaintReceivedV1]:
        """The calls with customer name, phone and site address sealed (one key look-up per batch)."""
        secret = self.store.index_secret()
        subjects = [customer_subject(secret, c.customer.phone, c.call_id) for c in calls]
        keys = self.store.keys_for(subjects)
        sealed = []
        for call, subject in zip(calls, subjects, strict=True):
            key = keys[subject]
            customer = msgspec.structs.replace(
                call.customer, name=seal(call.customer.name, "name", key), phone=seal(call.customer.phone, "phone", key)
            )
            site = msgspec.structs.replace(call.site, address=seal(call.site.address, "address", key))
            sealed.append(msgspec.structs.replace(call, customer=customer, site=site))
        return sealed

    def seal_completion(self, fields: Mapping[str, Any], current: Mapping[str, Any], call_id: str) -> dict[str, Any]:
        """CompleteRecord's `fields` with the personal ones sealed. `current` holds the complaint's
        personal fields as recorded (dotted names). A completed phone names the customer: its key
        seals the completion, and the keys that sealed the record so far are linked to it, so that
        erasing that phone erases them too. Otherwise the key of the recorded phone (or of the call)."""
        personal = {name: f for name, f in COMPLAINT_FIELDS.items() if fields.get(name) is not None}
        if not personal:
            return dict(fields)
        secret = self.store.index_secret()
        new_phone, recorded_phone = fields.get("customer.phone"), current.get("customer.phone")
        if new_phone is not None and not isinstance(new_phone, str):
            new_phone = msgspec.json.encode(new_phone).decode()
        if isinstance(new_phone, str) and new_phone.strip():
            subject = customer_subject(secret, new_phone, call_id)
            key = self.store.keys_for([subject])[subject]
            self.store.link(subject, sealed_key_ids(list(current.values())) - {key.key_id})
        elif sealed_key_ids(recorded_phone):
            (key_id,) = sealed_key_ids(recorded_phone)
            live = self.store.live_keys([key_id]).get(key_id)
            if live is None:
                raise CustomerErased("the customer's personal data was erased; it is not completed again")
            key = CustomerKey(key_id, live)
        else:
            subject = customer_subject(secret, None, call_id)
            key = self.store.keys_for([subject])[subject]
        sealed = dict(fields)
        for name, field in personal.items():
            value = fields[name]  # a phone given as a number is sealed as its text, never kept in clear
            sealed[name] = seal(value if isinstance(value, str) else msgspec.json.encode(value).decode(), field, key)
        return sealed


class CustomerErased(LookupError):
    """The customer's key was destroyed (PII-ERASE): nothing more is sealed under it."""
