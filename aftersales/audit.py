"""Tamper evidence (`aftersales audit verify`): each service store keeps a hash chain over its
events (shared/runtime/store.py writes it in the same transaction as the events). Verifying walks
the events and the chain together and reports the first broken link: a changed event, a deleted
one, a chain link that points at the wrong predecessor, or an event with no link."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from eventsourcing.persistence import StoredEvent
from psycopg.rows import dict_row
from psycopg.sql import SQL, Identifier

from shared.runtime.settings import Settings
from shared.runtime.store import GENESIS, chain_hash

STORE_TABLES = {"intake": "intake_events", "dispatch": "dispatch_events", "parts": "parts_events"}


@dataclass
class Verdict:
    service: str
    events: int
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_store(settings: Settings, service: str, batch: int = 10_000) -> Verdict:
    schema = settings.names.db_schema(service)
    query = SQL(
        "SELECT coalesce(e.notification_id, c.notification_id) AS id, e.notification_id AS event_id,"
        " e.originator_id, e.originator_version, e.topic, e.state, c.notification_id AS link_id,"
        " c.previous_id, c.hash FROM {0}.{1} e FULL OUTER JOIN {0}.audit_chain c USING (notification_id)"
        " WHERE coalesce(e.notification_id, c.notification_id) > %s ORDER BY 1 LIMIT %s"
    ).format(Identifier(schema), Identifier(STORE_TABLES[service]))
    previous_id: int | None = None
    previous_hash = GENESIS
    count = 0
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        exists = conn.execute("SELECT to_regclass(%s) AS t", (f'"{schema}"."audit_chain"',)).fetchone()
        if exists is None or exists["t"] is None:
            return Verdict(service, 0)
        last = 0
        while True:
            rows = conn.execute(query, (last, batch)).fetchall()
            for r in rows:
                position = r["id"]
                if r["event_id"] is None:
                    return Verdict(service, count, f"event #{position} was deleted (its chain link remains)")
                if r["link_id"] is None:
                    return Verdict(service, count, f"event #{position} has no chain link (inserted outside the store)")
                if r["previous_id"] != previous_id:
                    return Verdict(
                        service, count,
                        f"event #{position}: chain says the previous event is #{r['previous_id']},"
                        f" the store has #{previous_id} (an event before it was deleted or reordered)",
                    )  # fmt: skip
                event = StoredEvent(r["originator_id"], r["originator_version"], r["topic"], bytes(r["state"]))
                digest = chain_hash(previous_hash, position, event)
                if digest != bytes(r["hash"]):
                    return Verdict(
                        service, count,
                        f"event #{position} ({r['topic'].rsplit('.', 1)[-1]} of {r['originator_id']}"
                        f" v{r['originator_version']}) was changed: its bytes do not match the chain",
                    )  # fmt: skip
                previous_id, previous_hash = position, digest
                count += 1
            if len(rows) < batch:
                return Verdict(service, count)
            last = rows[-1]["id"]


def verify_all(settings: Settings) -> list[Verdict]:
    return [verify_store(settings, service) for service in STORE_TABLES]
