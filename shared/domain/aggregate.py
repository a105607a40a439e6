"""The base of every aggregate whose events are `shared.events` Structs.

An aggregate subclasses `EventSourced` (the eventsourcing library's `Aggregate`), triggers Struct
events (`self._trigger(ComplaintRelayed, at, causation_id, actor=…)`, `cls._create(ComplaintReceived,
id=…, …)`) and says how each event changes its state with `@applies(EventType)` methods; the events
themselves hold no service logic. State is typed: plain attributes and Structs, never `dict[str, Any]`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from eventsourcing.domain import Aggregate

from shared.events.base import CreatedEvent, DomainEvent

E = TypeVar("E", bound=DomainEvent)
S = TypeVar("S", bound="EventSourced")
Handler = Callable[[Any, Any], None]

_PENDING = "__applies__"


def applies(*event_types: type[DomainEvent]) -> Callable[[Callable[[S, E], None]], Callable[[S, E], None]]:
    """Mark a method as how the aggregate applies events of `event_types`."""

    def mark(method: Callable[[S, E], None]) -> Callable[[S, E], None]:
        setattr(method, _PENDING, event_types)
        return method

    return mark


class EventSourced(Aggregate):
    """An aggregate applying `shared.events` Structs through its `@applies` methods."""

    _appliers: ClassVar[dict[type[DomainEvent], Handler]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        appliers: dict[type[DomainEvent], Handler] = {}
        for base in reversed(cls.__mro__):
            for attribute in vars(base).values():
                for event_type in getattr(attribute, _PENDING, ()):
                    appliers[event_type] = attribute
        cls._appliers = appliers

    def apply_event(self, event: DomainEvent) -> None:
        handler = self._appliers.get(type(event))
        if handler is not None:
            handler(self, event)

    def _trigger(self, event_class: type[DomainEvent], at: dt.datetime, causation_id: str, /, **fields: Any) -> None:
        """Record `event_class` at `at`, correlated by the aggregate's `correlation_id`."""
        self._trigger_as(event_class, at, self.correlation_id, causation_id, **fields)

    def _trigger_as(
        self, event_class: type[DomainEvent], at: dt.datetime, correlation_id: str, causation_id: str, /,
        **fields: Any,
    ) -> None:  # fmt: skip
        """Record `event_class` at `at` with the given correlation id."""
        self.trigger_event(
            event_class,  # type: ignore[arg-type]
            timestamp=at,
            correlation_id=correlation_id,
            causation_id=causation_id,
            **fields,
        )

    @classmethod
    def _open(
        cls: type[S], event_class: type[CreatedEvent], aggregate_id: uuid.UUID, at: dt.datetime, correlation_id: str,
        causation_id: str, /, **fields: Any,
    ) -> S:  # fmt: skip
        """Create the aggregate by its first event."""
        return cls._create(
            event_class,  # type: ignore[arg-type]
            id=aggregate_id,
            timestamp=at,
            correlation_id=correlation_id,
            causation_id=causation_id,
            **fields,
        )

    @property
    def correlation_id(self) -> str:
        raise NotImplementedError
