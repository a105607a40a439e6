"""Value objects inside events and aggregate state (shared by the wire and the domain)."""

from __future__ import annotations

import datetime as dt

import msgspec

FieldValue = str | int | float | bool | None
"""A value of a record field a receiver completes (INT-REQUIRED): JSON scalars only."""


class CustomerInfo(msgspec.Struct, frozen=True):
    name: str | None = None
    phone: str | None = None


class EquipmentInfo(msgspec.Struct, frozen=True):
    serial: str | None = None
    model: str | None = None
    acceptance_date: dt.date | None = None


class SiteInfo(msgspec.Struct, frozen=True):
    region: str | None = None
    distance_km: float | None = None
    address: str | None = None
    lat: float | None = None
    lon: float | None = None
