"""One definition per event: msgspec Structs that are both the eventsourcing domain events and the
wire payloads (docs/contract.md §3).

An event is a frozen, keyword-only Struct: the store's metadata (`originator_id`,
`originator_version`, `timestamp`), the causal ids every envelope carries (`correlation_id`,
`causation_id`), a decision's `rule`, `policy_version` and `inputs` (`DecisionEvent`), and its own
fields, which are the envelope's `data`. `wire_type` names it on the wire and in the catalog.

It works with the eventsourcing library's aggregates: `Aggregate.trigger_event(SomeEvent, ...)` and
`Aggregate._create(SomeCreated, ...)` construct it and call `mutate`, which hands it to the
aggregate's `apply_event` (`shared.domain.aggregate.EventSourced`); the events hold no service logic.
They are stored by `shared.runtime.mapper.EventMapper` as msgspec JSON; the events stored before by
the library's JSON transcoder load through the topic aliases there.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, ClassVar, Protocol, TypeVar

import msgspec
from eventsourcing.domain import OriginatorIDError, OriginatorVersionError
from eventsourcing.utils import resolve_topic

from shared.events.legacy import LEGACY_TOPICS

META_FIELDS = frozenset({"originator_id", "originator_version", "timestamp", "originator_topic"})
"""The store's metadata: never part of the wire `data`."""
ENVELOPE_FIELDS = frozenset({"correlation_id", "causation_id", "rule", "policy_version", "inputs"})
"""Carried by the envelope itself, beside `data`."""
_NOT_DATA = META_FIELDS | ENVELOPE_FIELDS


class Applies(Protocol):
    """An aggregate that events can mutate (`shared.domain.aggregate.EventSourced`)."""

    @property
    def id(self) -> uuid.UUID: ...

    version: int
    modified_on: dt.datetime

    def apply_event(self, event: DomainEvent) -> None: ...


A = TypeVar("A", bound=Applies)


class DomainEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A domain event and its wire payload in one (see the module's docstring)."""

    originator_id: uuid.UUID
    originator_version: int
    timestamp: dt.datetime
    correlation_id: str
    causation_id: str

    wire_type: ClassVar[str] = ""
    wire_version: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("wire_type"):
            cls.wire_type = cls.__name__

    @staticmethod
    def create_timestamp() -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def mutate(self, aggregate: A | None) -> A | None:
        """The library's contract: check this is the aggregate's next event, then apply it."""
        if aggregate is None:
            raise TypeError(f"{type(self).__name__} does not create an aggregate")
        if self.originator_id != aggregate.id:
            raise OriginatorIDError(self.originator_id, aggregate.id)
        if self.originator_version != aggregate.version + 1:
            raise OriginatorVersionError(self.originator_version, aggregate.version + 1)
        aggregate.apply_event(self)
        aggregate.version = self.originator_version
        aggregate.modified_on = self.timestamp
        return aggregate

    def wire_data(self) -> dict[str, Any]:
        """The envelope's `data`: every field but the metadata and what the envelope carries itself, as
        JSON values (what a consumer decodes from the wire: nested Structs as objects, times as text)."""
        data: dict[str, Any] = msgspec.to_builtins(
            {name: getattr(self, name) for name in self.__struct_fields__ if name not in _NOT_DATA}
        )
        return data


class CreatedEvent(DomainEvent, frozen=True, kw_only=True):
    """The first event of an aggregate: it names the aggregate's class (`originator_topic`, filled in
    by `Aggregate._create`; empty on the wire, where it is not carried)."""

    originator_topic: str = ""

    def mutate(self, aggregate: A | None) -> A | None:
        if aggregate is not None:
            raise TypeError(f"{type(self).__name__} creates an aggregate; {aggregate!r} exists")
        cls = resolve_topic(LEGACY_TOPICS.get(self.originator_topic, self.originator_topic))
        created = cls.__new__(cls)
        created.__base_init__(self.originator_id, self.originator_version, self.timestamp)
        created.apply_event(self)
        return created  # type: ignore[no-any-return]


class DecisionEvent(DomainEvent, frozen=True, kw_only=True):
    """An event recording a rule's decision: rule id, policy version, inputs and outputs
    (shared.events.decisions); all but `outputs` travel in the envelope beside `data`."""

    rule: str
    policy_version: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]


class DecisionOutputs(DecisionEvent, frozen=True, kw_only=True):
    """A decision event whose wire `data` is only its `outputs` (DeadlineSet, WarrantyDecided, …)."""
