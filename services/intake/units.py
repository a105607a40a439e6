"""Intake's other aggregates: a unit's warranty history, a void register number, a calendar year."""

from __future__ import annotations

import datetime as dt
from typing import Any

from services.intake.identity import calendar_id_for, equipment_id_for, erasure_id_for, void_id_for
from services.intake.state import UnitRepair
from shared.domain.aggregate import EventSourced, applies
from shared.events import intake_events as ie
from shared.events.decisions import Actor


class VoidNumber(EventSourced):
    """INT-REGISTER: a register number that no complaint carries, recorded as void with the reason,
    so the register shows it instead of a gap (auditors read a gap as a deleted record)."""

    complaint_no: str
    reason: str
    voided_at: dt.datetime

    @property
    def correlation_id(self) -> str:
        return self.complaint_no

    @classmethod
    def void(cls, complaint_no: str, reason: str, voided_at: dt.datetime, causation_id: str) -> VoidNumber:
        return cls._open(ie.RegisterNumberVoided, void_id_for(complaint_no), voided_at, complaint_no, causation_id,
                         complaint_no=complaint_no, reason=reason, voided_at=voided_at)  # fmt: skip

    @applies(ie.RegisterNumberVoided)
    def _voided(self, e: ie.RegisterNumberVoided) -> None:
        self.complaint_no, self.reason, self.voided_at = e.complaint_no, e.reason, e.voided_at


class Equipment(EventSourced):
    """One unit by serial: the warranty extensions and repair history that outlive a complaint. Its
    events are correlated with the complaint they were recorded on."""

    serial: str
    extension_days: int
    repairs: list[UnitRepair]

    @classmethod
    def register(cls, serial: str, at: dt.datetime, complaint_no: str, causation_id: str) -> Equipment:
        return cls._open(ie.EquipmentRegistered, equipment_id_for(serial), at, complaint_no, causation_id,
                         serial=serial)  # fmt: skip

    @applies(ie.EquipmentRegistered)
    def _registered(self, e: ie.EquipmentRegistered) -> None:
        self.serial, self.extension_days, self.repairs = e.serial, 0, []

    @applies(ie.EquipmentRepairNoted)
    def _repair_noted(self, e: ie.EquipmentRepairNoted) -> None:
        self.repairs.append(UnitRepair(e.correlation_id, e.problem, e.outcome))

    @applies(ie.EquipmentWarrantyExtended)
    def _extended(self, e: ie.EquipmentWarrantyExtended) -> None:
        self.extension_days += e.days

    def note_repair(self, complaint_no: str, problem: str, outcome: str, at: dt.datetime, causation_id: str) -> None:
        self._trigger_as(ie.EquipmentRepairNoted, at, complaint_no, causation_id, problem=problem, outcome=outcome)

    def extend(self, complaint_no: str, days: int, at: dt.datetime, causation_id: str) -> None:
        self._trigger_as(ie.EquipmentWarrantyExtended, at, complaint_no, causation_id, days=days)

    def outcomes_of(self, problem: str) -> list[str]:
        key = normalise_problem(problem)
        return [r.outcome for r in self.repairs if normalise_problem(r.problem) == key]


def normalise_problem(problem: str) -> str:
    return "".join(problem.split()).lower()


class CalendarYear(EventSourced):
    """One year's working calendar as ops published it (docs/rules.md §9); a correction is a later
    publication."""

    year: int
    calendar_version: str

    @property
    def correlation_id(self) -> str:
        return f"calendar:{self.year}"

    @classmethod
    def publish(
        cls, year: int, content: dict[str, Any], actor: Actor, at: dt.datetime, causation_id: str
    ) -> CalendarYear:
        return cls._open(ie.CalendarPublished, calendar_id_for(year), at, f"calendar:{year}", causation_id, year=year,
                         **content, published_by=actor.id, role=actor.role)  # fmt: skip

    def republish(self, content: dict[str, Any], actor: Actor, at: dt.datetime, causation_id: str) -> None:
        self._trigger(ie.CalendarRepublished, at, causation_id, year=self.year, **content, published_by=actor.id,
                      role=actor.role)  # fmt: skip

    @applies(ie.CalendarPublished, ie.CalendarRepublished)
    def _published(self, e: ie.CalendarPublished | ie.CalendarRepublished) -> None:
        self.year, self.calendar_version = e.year, e.calendar_version


class Erasure(EventSourced):
    """PII-ERASE (docs/rules.md §11): a customer's deletion request under PIPL, carried out by
    destroying the customer's keys. The record names the keys destroyed, who asked, why and when,
    and nothing that leads back to the customer (not the phone, not its keyed index)."""

    key_ids: list[str]

    @classmethod
    def erase(cls, key_ids: list[str], actor: Actor, reason: str, at: dt.datetime, causation_id: str) -> Erasure:
        keys = sorted(key_ids)
        erasure_id = erasure_id_for(keys, at, causation_id)
        return cls._open(ie.PersonalDataErased, erasure_id, at, f"privacy:{erasure_id}", causation_id, key_ids=keys,
                         erased_by=actor.id, role=actor.role, reason=reason)  # fmt: skip

    @applies(ie.PersonalDataErased)
    def _erased(self, e: ie.PersonalDataErased) -> None:
        self.key_ids = list(e.key_ids)
