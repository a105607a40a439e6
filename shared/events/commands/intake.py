"""Intake's staff commands (docs/rules.md §1–2, §7, §9, §11): on `aftersales.cmd.intake`, and the
calendar and privacy commands intake records."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec

from shared.events.commands.common import Actor, NonEmpty, Role


class IntakeCommand(msgspec.Struct, frozen=True, tag_field="command"):
    complaint_no: NonEmpty
    actor: Actor


class Relay(IntakeCommand, frozen=True, tag="relay"):
    """Relay the complaint to the technical-quality department (INT-RELAY-4WH). Role: agent."""


class CompleteRecord(IntakeCommand, frozen=True, tag="complete"):
    """Complete an incomplete record (INT-REQUIRED), e.g. `{"equipment.acceptance_date": "2025-06-01"}`.
    Role: agent."""

    fields: dict[str, Any]


class Classify(IntakeCommand, frozen=True, tag="classify"):
    """Classify a fault (INT-CLASSIFY, INT-LEVELS) → FaultClassified. Role: tq."""

    cause: Literal["quality", "non_quality"]
    level: Annotated[int, msgspec.Meta(ge=1, le=4)]
    on_site: bool


class Answer(IntakeCommand, frozen=True, tag="answer"):
    """Answer a consultation (INT-REPLY-8WH). Role: tq."""

    answer: NonEmpty


class DecideSolution(IntakeCommand, frozen=True, tag="decide_solution"):
    """Decide a fault's solution (INT-REPLY-8WH, WAR-LOANER). Role: tq."""

    solution: NonEmpty
    expected_repair_hours: Annotated[float, msgspec.Meta(ge=0, le=24 * 365)] = 0.0


class RecordRepair(IntakeCommand, frozen=True, tag="record_repair"):
    """A repair attempt's outcome (WAR-EXTEND-60D, WAR-LEMON). Role: engineer or tq."""

    problem: NonEmpty
    outcome: Literal["fixed", "failed"]
    stops_work: bool = False


class Close(IntakeCommand, frozen=True, tag="close"):
    """Close the complaint with its outcome. Role: tq or agent."""

    outcome: NonEmpty


class FineRecordIncomplete(IntakeCommand, frozen=True, tag="fine_record_incomplete"):
    """FIN-RECORD-INCOMPLETE: the record was unclear or incomplete and caused extra service cost.
    Role: branch_manager or tq."""

    reason: NonEmpty
    extra_cost_fen: Annotated[int, msgspec.Meta(gt=0)]


class RecordFirstContact(IntakeCommand, frozen=True, tag="first_contact"):
    """The first response (INT-LEVELS, docs/rules.md §9): a contact with the customer — who (the
    actor), when (now), by which channel, what was agreed, and the agreed visit time if any.
    Meets the first-response deadline of a fault or a consultation. Role: agent, tq or engineer."""

    channel: Literal["phone", "sms", "email", "wechat", "on_site"]
    agreed: NonEmpty
    visit_at: Annotated[dt.datetime, msgspec.Meta(tz=True)] | None = None
    """The agreed visit time, with its UTC offset, e.g. `2026-11-24T09:00:00+08:00`."""


class AttributeFine(IntakeCommand, frozen=True, tag="attribute_fine"):
    """Name the person of an unattributed fine (no person was known when it was levied, docs/rules.md
    §9); recorded as FineAttributed, the fine itself stays as levied. Role: branch_manager."""

    fine_id: NonEmpty
    person: NonEmpty
    role: Role
    reason: Annotated[str, msgspec.Meta(max_length=2000)] = ""


AnyIntakeCommand = (
    Relay
    | CompleteRecord
    | Classify
    | Answer
    | DecideSolution
    | RecordRepair
    | Close
    | FineRecordIncomplete
    | RecordFirstContact
    | AttributeFine
)
INTAKE_COMMANDS: dict[str, type[IntakeCommand]] = {
    "relay": Relay, "complete": CompleteRecord, "classify": Classify, "answer": Answer,
    "decide_solution": DecideSolution, "record_repair": RecordRepair, "close": Close,
    "fine_record_incomplete": FineRecordIncomplete, "first_contact": RecordFirstContact,
    "attribute_fine": AttributeFine,
}  # fmt: skip


_command_decoder = msgspec.json.Decoder(AnyIntakeCommand)


def decode_intake_command(raw: bytes) -> AnyIntakeCommand:
    command: AnyIntakeCommand = _command_decoder.decode(raw)
    return command


class PublishCalendar(msgspec.Struct, frozen=True, tag_field="command", tag="publish_calendar"):
    """Publish one year's working calendar as the State Council announced it (docs/rules.md §9,
    Calendar): the days off and the make-up workdays (调休), ISO dates. Role: ops. Sent by
    `aftersales calendar publish FILE.toml` on `aftersales.cmd.calendar`; intake records it."""

    actor: Actor
    year: Annotated[int, msgspec.Meta(ge=1901, le=2099)]
    holidays: Annotated[list[dt.date], msgspec.Meta(max_length=366)]
    workdays: Annotated[list[dt.date], msgspec.Meta(max_length=366)] = msgspec.field(default_factory=list)
    notice: Annotated[str, msgspec.Meta(max_length=500)] = ""


_calendar_decoder = msgspec.json.Decoder(PublishCalendar)


def decode_calendar_command(raw: bytes) -> PublishCalendar:
    command: PublishCalendar = _calendar_decoder.decode(raw)
    return command


class ErasePersonalData(msgspec.Struct, frozen=True, tag_field="command", tag="erase_personal_data"):
    """PII-ERASE (docs/rules.md §11): a customer asked for deletion of their personal data (PIPL).
    Intake destroys the customer's keys and records `PersonalDataErased` (who, why, when). Role: ops.
    Sent by `aftersales privacy erase --phone …` on `aftersales.cmd.privacy` (request/reply only:
    the phone is never stored)."""

    actor: Actor
    phone: Annotated[str, msgspec.Meta(min_length=3, max_length=40)]
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


_erase_decoder = msgspec.json.Decoder(ErasePersonalData)


def decode_erase_command(raw: bytes) -> ErasePersonalData:
    command: ErasePersonalData = _erase_decoder.decode(raw)
    return command
