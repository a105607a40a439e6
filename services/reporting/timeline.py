"""A complaint's history as a timeline of plain Chinese sentences (pure: no I/O, no clock).

Input: the replayed history (aftersales/replay.py `Step`s: each event as published, with every decision
it carries re-run) and, as evidence, the chain hash the store recorded for each event. Output: one entry
per event, `2026-11-23 10:15` in China time, a sentence naming its rules with their seed sections, and
for each decision its rule, seed section, policy version, inputs and replay verdict (已复核 / 复核不一致).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from services.reporting.timeline_sentences import Said, clause, sentence
from services.reporting.timeline_words import (
    FIELDS,
    RULE_SEEDS,
    RULE_TITLES,
    SERVICES,
    VALUE_WORDS,
    china_time,
    moment,
    money,
)  # fmt: skip
from shared.events.envelope import Envelope
from shared.security.personal import is_sealed

REPRODUCED = "已复核"
NOT_REPRODUCED = "复核不一致"


class CheckLike(Protocol):
    """One decision re-run (aftersales.replay.Check)."""

    @property
    def rule(self) -> str: ...
    @property
    def policy_version(self) -> str: ...
    @property
    def inputs(self) -> dict[str, Any]: ...
    @property
    def recorded(self) -> dict[str, Any]: ...
    @property
    def recomputed(self) -> dict[str, Any] | None: ...
    @property
    def error(self) -> str | None: ...
    @property
    def reproduced(self) -> bool: ...


class StepLike(Protocol):
    """One event of the history (aftersales.replay.Step)."""

    @property
    def service(self) -> str: ...
    @property
    def position(self) -> int: ...
    @property
    def envelope(self) -> Envelope: ...
    @property
    def checks(self) -> Sequence[CheckLike]: ...


@dataclass(frozen=True)
class DecisionView:
    rule: str
    title: str
    seed: str
    policy_version: str
    inputs: tuple[tuple[str, str], ...]
    outputs: tuple[tuple[str, str], ...]
    reproduced: bool
    difference: str | None

    @property
    def verdict(self) -> str:
        return REPRODUCED if self.reproduced else NOT_REPRODUCED


@dataclass(frozen=True)
class Entry:
    at: str  # 2026-11-23 10:15 (China time)
    day: str  # 2026-11-23
    clock: str  # 10:15
    sentence: str
    service: str  # 受理 / 派工 / 旧件
    event_type: str
    position: int
    event_id: str
    chain_hash: str | None
    decisions: tuple[DecisionView, ...]


@dataclass(frozen=True)
class Timeline:
    complaint_no: str
    entries: tuple[Entry, ...]

    @property
    def decisions(self) -> int:
        return sum(len(e.decisions) for e in self.entries)

    @property
    def not_reproduced(self) -> int:
        return sum(1 for e in self.entries for d in e.decisions if not d.reproduced)

    @property
    def verdict(self) -> str:
        if self.not_reproduced:
            return f"{self.not_reproduced} 项决定{NOT_REPRODUCED}（共 {self.decisions} 项）"
        return f"全部 {self.decisions} 项决定均{REPRODUCED}"

    def days(self) -> list[tuple[str, list[Entry]]]:
        """Entries grouped by China-time day, in order."""
        grouped: list[tuple[str, list[Entry]]] = []
        for entry in self.entries:
            if not grouped or grouped[-1][0] != entry.day:
                grouped.append((entry.day, []))
            grouped[-1][1].append(entry)
        return grouped


def shown(key: str, value: Any) -> str:
    """A decision input or output as people read it: amounts in 元, times in China time."""
    if key.endswith("_fen") and isinstance(value, int) and not isinstance(value, bool):
        return money(value)
    if isinstance(value, str) and is_sealed(value):
        return "（个人信息，加密保存）"
    if isinstance(value, str) and key in VALUE_WORDS:
        return VALUE_WORDS[key].get(value, value)
    if isinstance(value, bool):
        return "是" if value else "否"
    if value is None:
        return "—"
    if isinstance(value, str) and moment(value) is not None:
        return china_time(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str, separators=(", ", ": "))
    return str(value)


def pairs(values: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """(label, value): the Chinese name of a field where it has one, else the recorded key."""
    return tuple((FIELDS.get(key, key), shown(key, value)) for key, value in values.items())


def difference(check: CheckLike) -> str | None:
    """What the re-run gave differently from what was recorded."""
    if check.reproduced:
        return None
    if check.error is not None or check.recomputed is None:
        return f"复算出错：{check.error}"
    recomputed = check.recomputed
    keys = sorted(set(check.recorded) | set(recomputed))
    recorded = check.recorded
    parts = [
        f"{FIELDS.get(key, key)}：记录为 {shown(key, recorded.get(key))}，复算为 {shown(key, recomputed.get(key))}"
        for key in keys
        if recorded.get(key) != recomputed.get(key)
    ]
    return "；".join(parts) or "记录与复算不同"


def decision_view(check: CheckLike) -> DecisionView:
    seed = RULE_SEEDS.get(check.rule, "")
    return DecisionView(
        rule=check.rule,
        title=RULE_TITLES.get(check.rule, ""),
        seed="项目规则" if not seed or seed.startswith("none") else seed,
        policy_version=check.policy_version,
        inputs=pairs(check.inputs),
        outputs=pairs(check.recorded),
        reproduced=check.reproduced,
        difference=difference(check),
    )


def entry(step: StepLike, chain_hash: str | None = None) -> Entry:
    e = step.envelope
    local = e.occurred_at.astimezone(dt.timezone(dt.timedelta(hours=8)))
    day = local.date()
    said = Said(e.data, day, e.rule, e.inputs or {}, e.data.get("outputs") or {})
    text = sentence(e.type, said)
    embedded = [c for c in step.checks if not (e.rule and c.rule == e.rule and c.inputs == e.inputs)]
    if embedded:
        text += "；" + "；".join(clause(c.rule, c.inputs, c.recorded, day) for c in embedded)
    return Entry(
        at=f"{local:%Y-%m-%d %H:%M}",
        day=f"{local:%Y-%m-%d}",
        clock=f"{local:%H:%M}",
        sentence=text,
        service=SERVICES.get(step.service, step.service),
        event_type=e.type,
        position=step.position,
        event_id=str(e.event_id),
        chain_hash=chain_hash,
        decisions=tuple(decision_view(c) for c in step.checks),
    )


def build(
    complaint_no: str, steps: Sequence[StepLike], hashes: Mapping[tuple[str, int], str] | None = None
) -> Timeline:
    """The timeline of `steps` (already in order); `hashes` maps (service, position) to the chain hash."""
    hashes = hashes or {}
    return Timeline(complaint_no, tuple(entry(s, hashes.get((s.service, s.position))) for s in steps))
