"""Old-parts application service. The event store and relay are live; the parts rules come next."""

from __future__ import annotations

import uuid

from eventsourcing.application import Application


class PartsApplication(Application[uuid.UUID]):
    name = "parts"
