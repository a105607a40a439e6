"""Reporting's read model in PostgreSQL: projected in batches, with its position in the same transaction.

Per upstream service the store keeps the last `position` (that service's gap-free notification id)
it applied; an event at or below it is a redelivery and changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import msgspec
import psycopg
from psycopg.rows import dict_row
from psycopg.sql import SQL, Composable, Composed, Identifier, Literal
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from services.reporting.projection import View, fold_batch, fold_roster, roster_engineers
from services.reporting.read_filter import ReadFilter
from shared.events.envelope import Envelope, decode_envelope, encode_envelope
from shared.runtime.leases import LeaseLost, fence_check
from shared.runtime.store import DDL_LOCK_CLASS

_json = msgspec.json.Encoder()


RECONNECT_GIVE_UP_S = 5.0
KPI_FIELDS = ("received_at", "deadlines", "surveys", "fines", "equipment", "cause", "service_fault")
DASHBOARD_FIELDS = ("complaint_no", "received_at", "status", "kind", "equipment", "site", "cause", "deadlines",
                    "surveys", "service_fault", "fines", "fine_reversals", "escalations", "parts")  # fmt: skip
QUALITY_FIELDS = ("complaint_no", "received_at", "kind", "status", "equipment", "site", "cause", "dispatch",
                  "parts", "repairs", "service_fault")  # fmt: skip


def _dumps(obj: Any) -> str:
    return _json.encode(obj).decode()


def change_channel(schema: str) -> str:
    """The NOTIFY channel on which `project` announces each commit (one per schema; the console's live updates)."""
    return f"reporting_changed_{schema}"[:63]


def where_clause(where: ReadFilter, *extra: Composable) -> tuple[Composable, dict[str, Any]]:
    """`WHERE …` (or nothing) for the complaints `where` selects, and its parameters; `extra` conditions are added."""
    columns = {
        "since": "received_at >= %(since)s",
        "until": "received_at < %(until)s",
        "status": "status = %(status)s",
        "region": "doc->'site'->>'region' = %(region)s",
        "model": "doc->'equipment'->>'model' = %(model)s",
        "agent": "doc->>'agent_id' = %(agent)s",
        "call_id": "call_id = %(call_id)s",
    }
    params = {name: getattr(where, name) for name in columns if getattr(where, name) is not None}
    conditions: list[Composable] = [SQL(columns[name]) for name in params]
    conditions.extend(extra)
    if not where.include_void:
        conditions.append(SQL("status <> 'void'"))
    if not conditions:
        return SQL(""), params
    return Composed([SQL(" WHERE "), SQL(" AND ").join(conditions)]), params


class ReportingStore:
    """Every wait on PostgreSQL is bounded: a connection from the pool within `wait_s` (else
    `PoolTimeout`, an `OperationalError`), a new connection within `wait_s`, a statement within
    `statement_timeout_s` (else `QueryCanceled`). The pool checks a connection before lending it,
    so after PostgreSQL restarts the broken ones are replaced instead of failing a request."""

    def __init__(
        self,
        database_url: str,
        schema: str,
        pool_size: int = 4,
        wait_s: float = 3.0,
        statement_timeout_s: float = 30.0,
    ) -> None:
        self.database_url = database_url
        self.schema = schema
        self.fences: dict[str, tuple[int, str, int]] = {}
        """tracking name → (partition, owner, epoch): the lease a position write needs (shared/runtime/leases.py)."""
        self.pool: ConnectionPool[psycopg.Connection[dict[str, Any]]] = ConnectionPool(
            database_url,
            min_size=1,
            max_size=pool_size,
            kwargs={
                "row_factory": dict_row,
                "autocommit": True,
                "connect_timeout": max(1, round(wait_s)),
                "options": f"-c statement_timeout={round(statement_timeout_s * 1000)}",
            },
            open=False,
            timeout=wait_s,
            check=ConnectionPool.check_connection,
            # A connection attempt backs off 1, 2, 4 … s; giving up after a few seconds starts the
            # next request on a fresh attempt, so reads recover within a connect once PostgreSQL is back.
            reconnect_timeout=RECONNECT_GIVE_UP_S,
        )
        s = Identifier(schema)
        self._sql = {
            "position": SQL("SELECT position FROM {0}.tracking WHERE upstream = %s FOR UPDATE").format(s),
            "lock_new": SQL(
                "INSERT INTO {0}.tracking (upstream, position) VALUES (%s, 0) ON CONFLICT DO NOTHING"
            ).format(s),
            "floor": SQL("SELECT position FROM {0}.tracking WHERE upstream = %s").format(s),
            "set_position": SQL("UPDATE {0}.tracking SET position = %s WHERE upstream = %s").format(s),
            "docs": SQL("SELECT complaint_no, doc FROM {0}.complaints WHERE complaint_no = ANY(%s)").format(s),
            # One writer per complaint at a time: the three upstream consumers run concurrently.
            "lock_keys": SQL(
                "SELECT count(pg_advisory_xact_lock(h)) FROM"
                " (SELECT DISTINCT hashtext(k) AS h FROM unnest(%s::text[]) AS k ORDER BY 1) AS ordered"
            ).format(),
            "pending": SQL(
                "SELECT seq, complaint_no, envelope FROM {0}.pending WHERE complaint_no = ANY(%s) ORDER BY seq"
            ).format(s),
            "park": SQL("INSERT INTO {0}.pending (complaint_no, envelope) VALUES (%s, %s)").format(s),
            "unpark": SQL("DELETE FROM {0}.pending WHERE seq = ANY(%s)").format(s),
            "upsert": SQL(
                "INSERT INTO {0}.complaints (complaint_no, call_id, received_at, status, doc, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, now()) ON CONFLICT (complaint_no) DO UPDATE SET"
                " status = EXCLUDED.status, doc = EXCLUDED.doc, updated_at = now()"
            ).format(s),
            "by_no": SQL("SELECT doc FROM {0}.complaints WHERE complaint_no = %s").format(s),
            "by_call": SQL("SELECT doc FROM {0}.complaints WHERE call_id = %s").format(s),
            "register": SQL(
                "SELECT doc FROM {0}.complaints ORDER BY received_at, complaint_no LIMIT %s OFFSET %s"
            ).format(s),
            "count": SQL("SELECT count(*) AS n FROM {0}.complaints WHERE status <> 'void'").format(s),
            # The work queue (services/reporting/queue.py): every view but its history, and the time of
            # its latest event (with the external clock, the latest event time is the system's now).
            "for_queue": SQL(
                "SELECT doc - 'history' AS doc, (doc->'history'->-1->>'occurred_at')::timestamptz AS last_at"
                " FROM {0}.complaints WHERE status <> 'void'"
            ).format(s),
            "engineer_for_update": SQL("SELECT doc FROM {0}.engineers WHERE engineer_id = %s FOR UPDATE").format(s),
            "engineers_for_update": SQL(
                "SELECT engineer_id, doc FROM {0}.engineers WHERE engineer_id = ANY(%s) ORDER BY engineer_id FOR UPDATE"
            ).format(s),
            "engineer_upsert": SQL(
                "INSERT INTO {0}.engineers (engineer_id, doc) VALUES (%s, %s)"
                " ON CONFLICT (engineer_id) DO UPDATE SET doc = EXCLUDED.doc"
            ).format(s),
            "engineers": SQL("SELECT doc FROM {0}.engineers ORDER BY engineer_id").format(s),
            "engineer": SQL("SELECT doc FROM {0}.engineers WHERE engineer_id = %s").format(s),
            "positions": SQL("SELECT upstream, position FROM {0}.tracking ORDER BY upstream").format(s),
            # Delivered at commit, so a listener re-reading the read model sees the change.
            "notify": SQL("SELECT pg_notify(%s, %s)").format(),
        }

    def open(self) -> None:
        self.pool.open(wait=True, timeout=30)
        self.create()

    def close(self) -> None:
        self.pool.close()

    def create(self) -> None:
        s = Identifier(self.schema)
        with self.pool.connection() as conn, conn.transaction():
            # The projector and the API both open the store; serialise their DDL.
            # Two keys: never the same lock as the one-key per-complaint locks of `project`.
            conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (DDL_LOCK_CLASS, self.schema))
            conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {0}").format(s))
            conn.execute(
                SQL(
                    "CREATE TABLE IF NOT EXISTS {0}.tracking (upstream text PRIMARY KEY, position bigint NOT NULL)"
                ).format(s)
            )
            conn.execute(
                SQL(
                    "CREATE TABLE IF NOT EXISTS {0}.complaints (complaint_no text PRIMARY KEY,"
                    " call_id text NOT NULL UNIQUE, received_at timestamptz NOT NULL, status text NOT NULL,"
                    " doc jsonb NOT NULL, updated_at timestamptz NOT NULL)"
                ).format(s)
            )
            self._create_pending(conn)
            conn.execute(
                SQL(
                    "CREATE TABLE IF NOT EXISTS {0}.engineers (engineer_id text PRIMARY KEY, doc jsonb NOT NULL)"
                ).format(s)
            )

    def _create_pending(self, conn: psycopg.Connection[dict[str, Any]]) -> None:
        conn.execute(
            SQL(
                "CREATE TABLE IF NOT EXISTS {0}.pending (seq bigserial PRIMARY KEY, complaint_no text NOT NULL,"
                " envelope bytea NOT NULL)"
            ).format(Identifier(self.schema))
        )

    def drop(self) -> None:
        """Drop the whole read model; the next projector run rebuilds it from the streams."""
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            conn.execute(SQL("DROP SCHEMA IF EXISTS {0} CASCADE").format(Identifier(self.schema)))

    def project(self, upstream: str, envelopes: Sequence[Envelope], tracking: str | None = None) -> int:
        """Apply a batch from one upstream service in one transaction; return how many were new.
        The position is kept under `tracking` (a partition's name, `shared/runtime/partitions.py`;
        default `upstream`), starting after the unpartitioned consumer's."""
        q = self._sql
        tracking = tracking or upstream
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.execute(q["lock_new"], (tracking,))
            cur.execute(q["position"], (tracking,))
            row = cur.fetchone()
            position = 0 if row is None else int(row["position"])
            fence = self.fences.get(tracking)
            if fence is not None:  # dynamic ownership: only while this instance holds the lease
                cur.execute(fence_check(self.schema), fence)
                if cur.fetchone() is None:
                    raise LeaseLost(f"the lease of {tracking} is no longer this instance's")
            if tracking != upstream:
                cur.execute(q["floor"], (upstream,))
                floor = cur.fetchone()
                position = max(position, 0 if floor is None else int(floor["position"]))
            fresh = [e for e in envelopes if e.position > position]
            if not fresh:
                return 0
            keys = sorted({e.correlation_id for e in fresh})
            cur.execute(q["lock_keys"], (keys,))
            cur.execute(q["docs"], (keys,))
            views: dict[str, View | None] = {r["complaint_no"]: r["doc"] for r in cur.fetchall()}
            cur.execute(q["pending"], (keys,))
            kept: dict[str, list[tuple[int, Envelope]]] = {}
            for r in cur.fetchall():
                kept.setdefault(r["complaint_no"], []).append((r["seq"], decode_envelope(bytes(r["envelope"]))))
            folded = fold_batch(views, kept, fresh)
            for key, envelope in folded.parked:
                cur.execute(q["park"], (key, encode_envelope(envelope)))
            if folded.roster:
                self._save_roster(cur, folded.roster)
            if folded.unparked:
                cur.execute(q["unpark"], (folded.unparked,))
            rows = [
                (no, v["call_id"], dt.datetime.fromisoformat(v["received_at"]), v["status"], Jsonb(v, _dumps))
                for no, v in folded.views.items()
                if v is not None
            ]
            if rows:
                cur.executemany(q["upsert"], rows)
            cur.execute(q["set_position"], (max(e.position for e in fresh), tracking))
            cur.execute(q["notify"], (change_channel(self.schema), upstream))
            return len(fresh)

    def _save_roster(self, cur: psycopg.Cursor[dict[str, Any]], roster: list[Envelope]) -> None:
        """The engineers' rows the roster events change (DSP-ASSIGN), locked, folded, saved."""
        cur.execute(self._sql["engineers_for_update"], (roster_engineers(roster),))
        engineers = {r["engineer_id"]: dict(r["doc"]) for r in cur.fetchall()}
        for engineer_id, engineer in fold_roster(engineers, roster).items():
            cur.execute(self._sql["engineer_upsert"], (engineer_id, Jsonb(engineer, _dumps)))

    # --- reads for the HTTP API

    def engineers(self) -> list[dict[str, Any]]:
        """The engineer roster (DSP-ASSIGN), by engineer id."""
        with self.pool.connection() as conn:
            return [dict(r["doc"]) for r in conn.execute(self._sql["engineers"]).fetchall()]

    def engineer(self, engineer_id: str) -> dict[str, Any] | None:
        with self.pool.connection() as conn:
            row = conn.execute(self._sql["engineer"], (engineer_id,)).fetchone()
            return None if row is None else dict(row["doc"])

    def complaint(self, complaint_no: str) -> View | None:
        with self.pool.connection() as conn:
            row = conn.execute(self._sql["by_no"], (complaint_no,)).fetchone()
            return None if row is None else dict(row["doc"])

    def complaints_for_call(self, call_id: str) -> list[View]:
        with self.pool.connection() as conn:
            return [dict(r["doc"]) for r in conn.execute(self._sql["by_call"], (call_id,)).fetchall()]

    def tracking_register(self, limit: int, offset: int) -> list[View]:
        with self.pool.connection() as conn:
            return [dict(r["doc"]) for r in conn.execute(self._sql["register"], (limit, offset)).fetchall()]

    def views_for_kpis(self, since: dt.datetime, until: dt.datetime, where: ReadFilter | None = None) -> list[View]:
        """The parts of each view the KPIs need, for complaints received in [since, until) (and `where`)."""
        return self._docs(KPI_FIELDS, replace(where or ReadFilter(), since=since, until=until, include_void=False))

    def register_page(self, where: ReadFilter, limit: int, offset: int) -> tuple[list[View], int]:
        """The views `where` selects, in register order (received, number), one page, and how many in all."""
        condition, params = where_clause(where)
        s = Identifier(self.schema)
        page = SQL("SELECT doc FROM {0}.complaints{1} ORDER BY received_at, complaint_no LIMIT %(limit)s"
                   " OFFSET %(offset)s").format(s, condition)  # fmt: skip
        count = SQL("SELECT count(*) AS n FROM {0}.complaints{1}").format(s, condition)
        with self.pool.connection() as conn:
            rows = conn.execute(page, {**params, "limit": limit, "offset": offset}).fetchall()
            total = conn.execute(count, params).fetchone()
        return [dict(r["doc"]) for r in rows], 0 if total is None else int(total["n"])

    def views_for_quality(self, where: ReadFilter) -> list[View]:
        """The parts of each view the quality reports need (services/reporting/quality.py), no void numbers."""
        return self._docs(QUALITY_FIELDS, replace(where, include_void=False))

    def _docs(self, fields: tuple[str, ...], where: ReadFilter) -> list[View]:
        condition, params = where_clause(where)
        pairs = SQL(", ").join(SQL("{0}::text, doc->{0}").format(Literal(f)) for f in fields)
        query = SQL("SELECT jsonb_build_object({0}) AS doc FROM {1}.complaints{2} ORDER BY received_at, complaint_no")
        with self.pool.connection() as conn:
            rows = conn.execute(query.format(pairs, Identifier(self.schema), condition), params).fetchall()
        return [dict(r["doc"]) for r in rows]

    def fine_rows(self, where: ReadFilter) -> list[dict[str, Any]]:
        """Per complaint with fines (or reversals) that `where` selects: its fines, reversals, region, model."""
        has_fines = SQL("(jsonb_array_length(doc->'fines') > 0 OR doc ? 'fine_reversals')")
        condition, params = where_clause(where, has_fines)
        query = SQL(
            "SELECT complaint_no, doc->'fines' AS fines, doc->'fine_reversals' AS reversals,"
            " doc->'site'->>'region' AS region, doc->'equipment'->>'model' AS model FROM {0}.complaints{1}"
            " ORDER BY received_at, complaint_no"
        ).format(Identifier(self.schema), condition)
        with self.pool.connection() as conn:
            return [dict(r) for r in conn.execute(query, params).fetchall()]

    def views_for_queue(self) -> tuple[list[View], dt.datetime | None]:
        """Every complaint's view without its history, and the time of the latest event of any."""
        with self.pool.connection() as conn:
            rows = conn.execute(self._sql["for_queue"]).fetchall()
        latest = max((r["last_at"] for r in rows if r["last_at"] is not None), default=None)
        return [dict(r["doc"]) for r in rows], latest

    def parts_page(self, part_id: str | None, region: str | None, limit: int, offset: int) -> tuple[list[View], int]:
        """One page of old parts (by completion date, part id), of one part id and region if given, and how
        many match in all."""
        matching = SQL(
            " FROM {0}.complaints c, jsonb_array_elements(c.doc->'parts') AS p(part)"
            " WHERE (%(part_id)s::text IS NULL OR p.part->>'part_id' = %(part_id)s)"
            " AND (%(region)s::text IS NULL OR p.part->>'region' = %(region)s)"
        ).format(Identifier(self.schema))
        page = SQL("SELECT p.part AS part{0} ORDER BY p.part->>'completed_on', p.part->>'part_id'"
                   " LIMIT %(limit)s OFFSET %(offset)s").format(matching)  # fmt: skip
        params = {"part_id": part_id, "region": region, "limit": limit, "offset": offset}
        with self.pool.connection() as conn:
            rows = [dict(row["part"]) for row in conn.execute(page, params).fetchall()]
            total = conn.execute(SQL("SELECT count(*) AS n{0}").format(matching), params).fetchone()
        return rows, 0 if total is None else int(total["n"])

    def views_for_dashboard(
        self, since: dt.datetime, until: dt.datetime, region: str | None, model: str | None
    ) -> list[View]:
        """The parts of each view the console's dashboard needs (console/dashboard_data.py): received in
        [since, until), of the region and model if given, no void numbers."""
        pairs = SQL(", ").join(SQL("{0}::text, doc->{0}").format(Literal(f)) for f in DASHBOARD_FIELDS)
        conditions = [SQL("received_at >= %(since)s"), SQL("received_at < %(until)s"), SQL("status <> 'void'")]
        if region is not None:
            conditions.append(SQL("doc->'site'->>'region' = %(region)s"))
        if model is not None:
            conditions.append(SQL("doc->'equipment'->>'model' = %(model)s"))
        query = SQL(
            "SELECT jsonb_build_object({0}) AS doc FROM {1}.complaints WHERE {2} ORDER BY received_at, complaint_no"
        ).format(pairs, Identifier(self.schema), SQL(" AND ").join(conditions))
        params = {"since": since, "until": until, "region": region, "model": model}
        with self.pool.connection() as conn:
            return [dict(r["doc"]) for r in conn.execute(query, params).fetchall()]

    def filter_options(self) -> dict[str, list[str]]:
        """The regions and models that occur, for the dashboard's filter lists."""
        query = SQL(
            "SELECT array_remove(array_agg(DISTINCT doc->'site'->>'region'), NULL) AS regions,"
            " array_remove(array_agg(DISTINCT doc->'equipment'->>'model'), NULL) AS models"
            " FROM {0}.complaints WHERE status <> 'void'"
        ).format(Identifier(self.schema))
        with self.pool.connection() as conn:
            row = conn.execute(query).fetchone()
        return {"regions": sorted((row or {}).get("regions") or []), "models": sorted((row or {}).get("models") or [])}

    # --- reads of the services' own stores, for the health checks (health.py)

    def stored_positions(self, tables: dict[str, str]) -> dict[str, int]:
        """The last position (notification id) stored in each service's events table (`tables`: schema →
        table, `<service>_events`), by service; a table not created yet is left out."""
        found: dict[str, int] = {}
        with self.pool.connection() as conn:
            present = conn.execute(
                "SELECT schemaname, tablename FROM pg_tables WHERE schemaname = ANY(%s) AND tablename = ANY(%s)",
                (list(tables), list(tables.values())),
            ).fetchall()
            for row in present:
                schema, table = row["schemaname"], row["tablename"]
                if tables.get(schema) != table:
                    continue
                query = SQL("SELECT coalesce(max(notification_id), 0) AS n FROM {0}.{1}")
                top = conn.execute(query.format(Identifier(schema), Identifier(table))).fetchone()
                found[table.removesuffix("_events")] = 0 if top is None else int(top["n"])
        return found

    def parked_timers(self, schemas: list[str]) -> list[dict[str, Any]]:
        """Per service schema with parked timers: how many (`n`), since when and the first one's reason."""
        rows = []
        with self.pool.connection() as conn:
            present = conn.execute(
                "SELECT schemaname FROM pg_tables WHERE tablename = 'parked_timers' AND schemaname = ANY(%s)"
                " ORDER BY schemaname",
                (schemas,),
            ).fetchall()
            for row in present:
                query = SQL(
                    "SELECT count(*) AS n, min(parked_at) AS since, (array_agg(reason ORDER BY parked_at))[1] AS reason"
                    " FROM {0}.parked_timers"
                ).format(Identifier(row["schemaname"]))
                found = conn.execute(query).fetchone()
                if found is not None:
                    rows.append({"schema": row["schemaname"], **found})
        return rows

    def complaint_count(self) -> int:
        with self.pool.connection() as conn:
            row = conn.execute(self._sql["count"]).fetchone()
            return 0 if row is None else int(row["n"])

    def positions(self) -> dict[str, int]:
        with self.pool.connection() as conn:
            return {r["upstream"]: int(r["position"]) for r in conn.execute(self._sql["positions"]).fetchall()}
