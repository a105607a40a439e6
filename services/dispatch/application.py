"""Dispatch application service. The event store and relay are live; the dispatch rules come next."""

from __future__ import annotations

import uuid

from eventsourcing.application import Application


class DispatchApplication(Application[uuid.UUID]):
    name = "dispatch"
