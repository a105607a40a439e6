"""Replay for disputes (docs/contract.md §5): a complaint's whole history across services, each decision
re-run by the rule implementation of its recorded policy version on its recorded inputs.

The event stores are the source of truth (each service's eventsourcing store in PostgreSQL); the
events are shown as the relay publishes them (the wire envelope), so what an operator sees is what
other systems received.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import msgspec
import psycopg
from eventsourcing.persistence import Notification
from psycopg.rows import dict_row
from psycopg.sql import SQL, Identifier

from services.dispatch import policy as dispatch_policy
from services.dispatch.application import DispatchApplication
from services.intake import policy as intake_policy
from services.intake.application import IntakeApplication
from services.parts import policy as parts_policy
from services.parts.application import PartsApplication
from shared.events.catalog import CalendarPublished, payload
from shared.events.envelope import Envelope
from shared.runtime.calendar_feed import schedule_of
from shared.runtime.relay import to_envelope
from shared.runtime.settings import Settings
from shared.runtime.store import StoredApplication, build_application
from shared.security.principal import describe, parse_causation
from shared.workcal import CalendarRegistry

Evaluate = Callable[[str, str, Mapping[str, Any], CalendarRegistry | None], dict[str, Any]]

STORES: dict[str, tuple[type[StoredApplication], Evaluate]] = {
    "intake": (IntakeApplication, intake_policy.evaluate),
    "dispatch": (DispatchApplication, dispatch_policy.evaluate),
    "parts": (PartsApplication, parts_policy.evaluate),
}
SERVICE_ORDER = {name: n for n, name in enumerate(STORES)}
CHINA_OFFSET = dt.timezone(dt.timedelta(hours=8))


@dataclass
class Check:
    """One decision re-evaluated: recorded outputs against what the rule gives again."""

    rule: str
    policy_version: str
    inputs: dict[str, Any]
    recorded: dict[str, Any]
    recomputed: dict[str, Any] | None
    error: str | None = None

    @property
    def reproduced(self) -> bool:
        return self.error is None and self.recomputed == self.recorded


@dataclass
class Step:
    service: str
    position: int
    envelope: Envelope
    checks: list[Check] = field(default_factory=list)

    @property
    def reproduced(self) -> bool:
        return all(check.reproduced for check in self.checks)

    def as_json(self) -> dict[str, Any]:
        e = self.envelope
        return {
            "service": self.service,
            "position": self.position,
            "event_id": str(e.event_id),
            "type": e.type,
            "version": e.version,
            "occurred_at": e.occurred_at.isoformat(),
            "aggregate_id": str(e.aggregate_id),
            "aggregate_version": e.aggregate_version,
            "correlation_id": e.correlation_id,
            "causation_id": e.causation_id,
            "acted_by": msgspec.to_builtins(acted) if (acted := parse_causation(e.causation_id)) else None,
            "data": e.data,
            "decisions": [{**asdict(c), "reproduced": c.reproduced} for c in self.checks],
        }


def decisions_of(envelope: Envelope) -> Iterator[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(rule, policy_version, inputs, outputs) of every decision an event carries."""
    if envelope.rule and envelope.policy_version is not None and envelope.inputs is not None:
        yield envelope.rule, envelope.policy_version, envelope.inputs, envelope.data.get("outputs", {})
    for record in envelope.data.get("decisions", []) or []:
        yield record["rule"], record["policy_version"], record["inputs"], record["outputs"]


def check_decisions(service: str, envelope: Envelope, calendars: CalendarRegistry | None = None) -> list[Check]:
    """Re-run each decision; a working-time rule on the calendar versions it recorded (`calendars`)."""
    evaluate = STORES[service][1]
    checks = []
    for rule, version, inputs, outputs in decisions_of(envelope):
        try:
            recomputed = evaluate(rule, version, inputs, calendars)
        except Exception as exc:
            checks.append(Check(rule, version, inputs, outputs, None, f"{type(exc).__name__}: {exc}"))
        else:
            checks.append(Check(rule, version, inputs, outputs, json_roundtrip(recomputed)))
    return checks


def json_roundtrip(value: dict[str, Any]) -> dict[str, Any]:
    """Compare as stored: the recorded outputs went through JSON."""
    result: dict[str, Any] = json.loads(json.dumps(value, default=str))
    return result


class History:
    """Reads the services' event stores."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.apps = {
            name: build_application(cls, settings.database_url, settings.names.db_schema(name), pool_size=2)
            for name, (cls, _) in STORES.items()
        }
        self.calendars = self._published_calendars()

    def _published_calendars(self) -> CalendarRegistry:
        """Every calendar ever published (intake's store), so each decision re-runs on its own."""
        registry = CalendarRegistry()
        app = self.apps["intake"]
        for notification in self._rows("intake", '"calendar_version"'):
            event = app.mapper.to_domain_event(notification)
            if getattr(type(event), "wire_type", "") == "CalendarPublished":
                published = payload(to_envelope("intake", notification.id, event))
                if isinstance(published, CalendarPublished):
                    registry.publish(schedule_of(published))
        return registry

    def close(self) -> None:
        for app in self.apps.values():
            app.close()

    def _rows(self, service: str, contains: str | None, batch: int = 5000) -> Iterator[Notification]:
        app = self.apps[service]
        table = Identifier(self.settings.names.db_schema(service), f"{app.name.lower()}_events")
        query = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {0}"
            " WHERE notification_id > %s AND (%s::text IS NULL OR strpos(convert_from(state, 'UTF8'), %s) > 0)"
            " ORDER BY notification_id LIMIT %s"
        ).format(table)
        last = 0
        with psycopg.connect(self.settings.database_url, row_factory=dict_row) as conn:
            while True:
                rows = conn.execute(query, (last, contains, contains, batch)).fetchall()
                for r in rows:
                    yield Notification(
                        id=r["notification_id"], originator_id=r["originator_id"],
                        originator_version=r["originator_version"], topic=r["topic"], state=bytes(r["state"]),
                    )  # fmt: skip
                if len(rows) < batch:
                    return
                last = rows[-1]["notification_id"]

    def steps(self, contains: str | None = None, keep: Callable[[Envelope], bool] | None = None) -> Iterator[Step]:
        for service, app in self.apps.items():
            for notification in self._rows(service, contains):
                event = app.mapper.to_domain_event(notification)
                envelope = to_envelope(service, notification.id, event)
                if keep is None or keep(envelope):
                    yield Step(service, notification.id, envelope, check_decisions(service, envelope, self.calendars))


def ordered(steps: Iterable[Step]) -> list[Step]:
    """Causal/time order: event time, then the service that acted first, then its own order."""
    return sorted(steps, key=lambda s: (s.envelope.occurred_at, SERVICE_ORDER[s.service], s.position))


def complaint_history(history: History, complaint_no: str, as_of: dt.datetime | None = None) -> list[Step]:
    def keep(envelope: Envelope) -> bool:
        return envelope.correlation_id == complaint_no and (as_of is None or envelope.occurred_at <= as_of)

    return ordered(history.steps(contains=complaint_no, keep=keep))


def fine_history(history: History, fine_id: str) -> list[Step]:
    """The fine's own event and every event that points at it (disputes, reversals), plus its
    complaint's history for context."""
    about = ordered(history.steps(contains=fine_id))
    if not about:
        return []
    return complaint_history(history, about[0].envelope.correlation_id)


def part_history(history: History, part_id: str) -> list[Step]:
    return ordered(history.steps(contains=part_id))


# ---------------------------------------------------------------------------------------- output


def render_text(title: str, steps: list[Step], shown: Callable[[Any], Any] = lambda d: d) -> str:
    """The history as text; `shown` gives the facts as the reader may see them (PII-VIEW)."""
    lines = [title, "=" * len(title)]
    for step in steps:
        e = step.envelope
        local = e.occurred_at.astimezone(CHINA_OFFSET)
        lines.append(f"{local:%Y-%m-%d %H:%M:%S%z}  {step.service:<8} #{step.position:<6} {e.type}  ({e.causation_id})")
        acted = parse_causation(e.causation_id)
        if acted is not None:
            lines.append(f"    by {describe(acted)}")
        summary = shown({k: v for k, v in e.data.items() if k not in ("decisions", "outputs")})
        if summary:
            lines.append("    " + json.dumps(summary, ensure_ascii=False, default=str)[:400])
        for check in step.checks:
            mark = "✓ reproduced" if check.reproduced else "✗ DOES NOT REPRODUCE"
            lines.append(f"    decision {check.rule} [{check.policy_version}] {mark}")
            lines.append(f"      inputs  {json.dumps(check.inputs, ensure_ascii=False, default=str)}")
            lines.append(f"      outputs {json.dumps(check.recorded, ensure_ascii=False, default=str)}")
            if not check.reproduced:
                lines.append(
                    f"      re-run  {json.dumps(check.recomputed, ensure_ascii=False, default=str)} {check.error or ''}"
                )
    failed = sum(1 for s in steps for c in s.checks if not c.reproduced)
    total = sum(len(s.checks) for s in steps)
    lines.append(f"{len(steps)} events, {total} decisions, {failed} not reproduced")
    return "\n".join(lines)


def as_document(subject: str, steps: list[Step]) -> dict[str, Any]:
    failed = sum(1 for s in steps for c in s.checks if not c.reproduced)
    return {
        "subject": subject,
        "events": [s.as_json() for s in steps],
        "decisions": sum(len(s.checks) for s in steps),
        "not_reproduced": failed,
        "reproduced": failed == 0,
    }


def dossier_html(
    complaint_no: str, steps: list[Step], view: dict[str, Any] | None, shown: Callable[[Any], Any] = lambda d: d
) -> str:
    """A printable dossier to hand to the other party in a dispute; `shown` gives the facts as the
    reader may see them (personal data masked or `已删除`, PII-VIEW)."""
    esc = html.escape
    rows = []
    for step in steps:
        e = step.envelope
        decisions = "".join(
            f"<div class='d {'ok' if c.reproduced else 'bad'}'><b>{esc(c.rule)}</b> [{esc(c.policy_version)}] "
            f"{'已复核 reproduced' if c.reproduced else '不一致 NOT reproduced'}<br>"
            f"<small>inputs: {esc(json.dumps(c.inputs, ensure_ascii=False, default=str))}<br>"
            f"outputs: {esc(json.dumps(c.recorded, ensure_ascii=False, default=str))}</small></div>"
            for c in step.checks
        )
        data = shown({k: v for k, v in e.data.items() if k not in ("decisions", "outputs")})
        when = e.occurred_at.astimezone(CHINA_OFFSET).strftime("%Y-%m-%d %H:%M")
        acted = parse_causation(e.causation_id)
        who = f"<br><small>经办 by {esc(describe(acted))}</small>" if acted else ""
        rows.append(
            f"<tr><td>{esc(when)}</td>"
            f"<td>{esc(step.service)}</td><td>{esc(e.type)}{who}</td>"
            f"<td><small>{esc(json.dumps(data, ensure_ascii=False, default=str)[:600])}</small>{decisions}</td></tr>"
        )
    summary = ""
    if view:
        fines = "".join(
            f"<li>{esc(str(f.get('rule')))}: {esc(str(f.get('amount_yuan')))} 元 → {esc(str(f.get('person')))}"
            f" ({esc(str(f.get('reason')))})</li>"
            for f in view.get("fines", [])
        )
        summary = (
            f"<p>客户 Customer: {esc(str(view['customer'].get('name')))} · 设备 Equipment: "
            f"{esc(str(view['equipment'].get('model')))} {esc(str(view['equipment'].get('serial')))} · "
            f"状态 Status: {esc(str(view.get('status')))}</p><ul>{fines}</ul>"
        )
    failed = sum(1 for s in steps for c in s.checks if not c.reproduced)
    verdict = (
        "全部决定均可复核 — every decision reproduces" if failed == 0 else f"{failed} 项决定不一致 — not reproduced"
    )
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<title>投诉档案 {esc(complaint_no)}</title>
<style>body{{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:2em}}
table{{border-collapse:collapse;width:100%}}td{{border:1px solid #999;padding:4px;vertical-align:top}}
.d{{margin:3px 0;padding:2px}}.ok{{background:#e8f5e9}}.bad{{background:#ffebee}}
@media print{{body{{margin:0}}}}</style></head><body>
<h1>客户投诉档案 Complaint dossier {esc(complaint_no)}</h1>{summary}
<p><b>{esc(verdict)}</b></p>
<table><tr><th>时间 Time</th><th>服务 Service</th><th>事件 Event</th><th>内容与决定 Facts and decisions</th></tr>
{"".join(rows)}</table></body></html>
"""


def replay_rate(history: History) -> tuple[int, int, int, float]:
    """Re-evaluate every decision in every store: (events, decisions, not reproduced, seconds)."""
    began = time.perf_counter()
    events = decisions = failed = 0
    for step in history.steps():
        events += 1
        decisions += len(step.checks)
        failed += sum(1 for c in step.checks if not c.reproduced)
    return events, decisions, failed, time.perf_counter() - began


def chain_hashes(settings: Settings, steps: Iterable[Step]) -> dict[tuple[str, int], str]:
    """The tamper-evident chain hash each store recorded for these events (hex), as evidence."""
    wanted: dict[str, list[int]] = {}
    for step in steps:
        wanted.setdefault(step.service, []).append(step.position)
    found: dict[tuple[str, int], str] = {}
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        for service, positions in wanted.items():
            table = Identifier(settings.names.db_schema(service), "audit_chain")
            query = SQL("SELECT notification_id, hash FROM {0} WHERE notification_id = ANY(%s)").format(table)
            try:
                rows = conn.execute(query, (positions,)).fetchall()
            except psycopg.errors.UndefinedTable:
                conn.rollback()
                continue
            found.update({(service, r["notification_id"]): bytes(r["hash"]).hex() for r in rows})
    return found


@dataclass
class Dossier:
    """A complaint's replayed history with its chain hashes: what the dossier and the complaint page show."""

    complaint_no: str
    steps: list[Step]
    hashes: dict[tuple[str, int], str]


def read_dossier(settings: Settings, complaint_no: str) -> Dossier:
    """Read-only: the event stores and their chains (opens and closes its own connections)."""
    history = History(settings)
    try:
        steps = complaint_history(history, complaint_no)
        return Dossier(complaint_no, steps, chain_hashes(settings, steps) if steps else {})
    finally:
        history.close()
