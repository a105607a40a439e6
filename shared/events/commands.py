"""Staff commands (DOMAIN §7): sent by the HTTP entry point to the owning service over NATS
request/reply. Each names the acting person and their role; the service checks the role."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

NonEmpty = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
Role = Literal[
    "agent", "tq", "engineer", "warehouse_keeper", "old_parts_officer", "branch_manager", "deputy_gm", "gm",
    "finance", "ops",
]  # fmt: skip


class Actor(msgspec.Struct, frozen=True):
    id: NonEmpty
    role: Role


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


AnyIntakeCommand = (
    Relay | CompleteRecord | Classify | Answer | DecideSolution | RecordRepair | Close | FineRecordIncomplete
)
INTAKE_COMMANDS: dict[str, type[IntakeCommand]] = {
    "relay": Relay, "complete": CompleteRecord, "classify": Classify, "answer": Answer,
    "decide_solution": DecideSolution, "record_repair": RecordRepair, "close": Close,
    "fine_record_incomplete": FineRecordIncomplete,
}  # fmt: skip


class CommandReply(msgspec.Struct, frozen=True, omit_defaults=True):
    ok: bool
    status: int
    complaint_no: str | None = None
    events: list[str] = msgspec.field(default_factory=list)
    error: str | None = None


_command_decoder = msgspec.json.Decoder(AnyIntakeCommand)
_reply_decoder = msgspec.json.Decoder(CommandReply)


def decode_intake_command(raw: bytes) -> AnyIntakeCommand:
    command: AnyIntakeCommand = _command_decoder.decode(raw)
    return command


def decode_reply(raw: bytes) -> CommandReply:
    reply: CommandReply = _reply_decoder.decode(raw)
    return reply
