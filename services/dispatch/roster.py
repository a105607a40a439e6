"""The engineer roster (售后服务技术人员): region, product skills, current load, availability.

Pure: no I/O, no clock. Its events are the Structs of `shared.events.dispatch_events`.
"""

from __future__ import annotations

import datetime as dt

import msgspec

from services.dispatch.identity import ROSTER_ID, CommandRejected
from services.dispatch.state import Engineer
from shared.domain.aggregate import EventSourced, applies
from shared.events import dispatch_events as de
from shared.events.decisions import Actor


class Roster(EventSourced):
    engineers: dict[str, Engineer]

    @property
    def correlation_id(self) -> str:
        return de.ROSTER_CORRELATION

    @classmethod
    def open(cls, at: dt.datetime, causation_id: str) -> Roster:
        return cls._open(de.RosterOpened, ROSTER_ID, at, de.ROSTER_CORRELATION, causation_id)

    @applies(de.RosterOpened)
    def _opened(self, e: de.RosterOpened) -> None:
        self.engineers = {}

    @applies(de.EngineerRegistered)
    def _registered(self, e: de.EngineerRegistered) -> None:
        self.engineers[e.engineer_id] = Engineer(e.engineer_id, e.name, e.region, list(e.skills), e.load, e.available)

    @applies(de.EngineerUpdated)
    def _updated(self, e: de.EngineerUpdated) -> None:
        changes = {k: v for k, v in msgspec.structs.asdict(e.changes).items() if v is not msgspec.UNSET}
        self.engineers[e.engineer_id] = msgspec.structs.replace(self.engineers[e.engineer_id], **changes)

    @applies(de.EngineerLoadChanged)
    def _load_changed(self, e: de.EngineerLoadChanged) -> None:
        engineer = self.engineers[e.engineer_id]
        self.engineers[e.engineer_id] = msgspec.structs.replace(engineer, load=max(0, engineer.load + e.delta))

    def register(
        self, actor: Actor, engineer_id: str, name: str, region: str, skills: list[str], load: int, available: bool,
        at: dt.datetime, causation_id: str,
    ) -> None:  # fmt: skip
        if engineer_id in self.engineers:
            raise CommandRejected(f"engineer {engineer_id} is already on the roster; update them instead")
        self._trigger(de.EngineerRegistered, at, causation_id, engineer_id=engineer_id, name=name, region=region,
                      skills=skills, load=load, available=available, actor=actor.id)  # fmt: skip

    def update(
        self, actor: Actor, engineer_id: str, changes: de.EngineerChanges, at: dt.datetime, causation_id: str
    ) -> None:
        if engineer_id not in self.engineers:
            raise CommandRejected(f"no engineer {engineer_id} on the roster")
        if not msgspec.to_builtins(changes):
            raise CommandRejected("nothing to update: give region, skills, load or available")
        self._trigger(de.EngineerUpdated, at, causation_id, engineer_id=engineer_id, changes=changes, actor=actor.id)

    def change_load(self, engineer_id: str, delta: int, complaint_no: str, at: dt.datetime, causation_id: str) -> None:
        if engineer_id in self.engineers:
            self._trigger(de.EngineerLoadChanged, at, causation_id, engineer_id=engineer_id, delta=delta,
                          complaint_no=complaint_no)  # fmt: skip
