"""How events are stored: msgspec JSON for the Structs of `shared.events` (one definition per event),
the library's JSON transcoder for events stored before them.

`EventMapper` stores a `DomainEvent` as its msgspec JSON, under the topic of its Struct
(`shared.events.intake_events:ComplaintRelayed`), and decodes it straight into that Struct. A stored
event whose topic is one of `LEGACY_TOPICS` (`services.intake.domain:Complaint.Relayed`, written by the
library's transcoder as `{"_type_": …, "_data_": …}` JSON) is decoded by the transcoder it was written
with and converted into the Struct that now defines it: existing databases, `aftersales replay` and
`aftersales audit verify` keep working, and the stored bytes (which the audit chain hashes) are never
rewritten. Any other topic (a service not migrated yet) goes through the library's own mapper.

Versions: a Struct's `wire_version` is its version in the catalog. When an event type gets a v2, its
v1 Struct stays at its topic (old rows decode into it) and the catalog's upcaster for v1 → v2 lifts
it on load, the same function that lifts a v1 envelope on the wire: upcasting lives in one place.
"""

from __future__ import annotations

import functools
import uuid
from typing import Any

import msgspec
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import Mapper, MapperDeserialisationError, StoredEvent
from eventsourcing.utils import get_topic, resolve_topic

from shared.events.base import DomainEvent
from shared.events.catalog import CATALOG
from shared.events.legacy import LEGACY_TOPICS

_encoder = msgspec.json.Encoder(decimal_format="string")


@functools.cache
def _decoder(cls: type[DomainEvent]) -> msgspec.json.Decoder[DomainEvent]:
    return msgspec.json.Decoder(cls)


@functools.cache
def topic_of(cls: type[DomainEvent]) -> str:
    return get_topic(cls)


@functools.cache
def struct_for(topic: str) -> tuple[type[DomainEvent] | None, bool]:
    """The Struct that defines events stored under `topic`, and whether they are in the legacy format;
    (None, False) for a topic of a class that is not a Struct yet."""
    legacy = LEGACY_TOPICS.get(topic)
    if legacy is not None:
        cls = resolve_topic(legacy)
        if not (isinstance(cls, type) and issubclass(cls, DomainEvent)):
            raise TypeError(f"legacy topic {topic} maps to {legacy}, which is no DomainEvent")
        return cls, True
    resolved = resolve_topic(topic)
    if isinstance(resolved, type) and issubclass(resolved, DomainEvent):
        return resolved, False
    return None, False


class EventMapper(Mapper[uuid.UUID]):
    """The store's mapper (`build_application` sets it as MAPPER_TOPIC); see the module's docstring."""

    def to_stored_event(self, domain_event: DomainEventProtocol[uuid.UUID]) -> StoredEvent:
        if isinstance(domain_event, DomainEvent):
            return StoredEvent(
                originator_id=domain_event.originator_id,
                originator_version=domain_event.originator_version,
                topic=topic_of(type(domain_event)),
                state=_encoder.encode(domain_event),
            )
        return super().to_stored_event(domain_event)

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[uuid.UUID]:
        cls, legacy = struct_for(stored_event.topic)
        if cls is None:
            return super().to_domain_event(stored_event)
        try:
            if legacy:
                event: DomainEvent = self._from_legacy(cls, stored_event)
            else:
                event = _decoder(cls).decode(stored_event.state)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise MapperDeserialisationError(
                f"stored event {stored_event.topic} of {stored_event.originator_id}"
                f" (version {stored_event.originator_version}) does not fit {cls.__name__}: {exc}"
            ) from exc
        return CATALOG.newest(event)  # a stored older version, upcast like a wire payload

    def _from_legacy(self, cls: type[DomainEvent], stored_event: StoredEvent) -> DomainEvent:
        state: dict[str, Any] = self.transcoder.decode(stored_event.state)
        state["originator_id"] = stored_event.originator_id
        state["originator_version"] = stored_event.originator_version
        return msgspec.convert(state, cls, strict=False)
