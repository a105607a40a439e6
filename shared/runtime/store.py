"""Event stores: the eventsourcing library on PostgreSQL, one schema per service.

`AftersalesRecorder` extends the library's process recorder so that, in the *same* transaction as
the events, it can also record
- a consumer position (`position=Tracking(upstream, notification_id)`): redelivery is a no-op;
- timers (`timers=[Timer]`) scheduled by the events: deadlines survive restarts;
- fired timers (`fired=[timer_id]`): a primary key makes a second firing fail, so a deadline fires once;
- idempotency keys (`keys=[str]`) of inbound messages, so a second delivery fails the transaction;
- lookups (`lookups=[(key, aggregate_id)]`): business keys such as a register number;
- register numbers (`numbers=[RegisterClaim]`, INT-REGISTER): taken from a counter row per year in
  the same transaction, so a rolled-back or retried batch uses up no number and the register stays
  gapless. The claim says which numbers the events carry; if another writer took them meanwhile the
  transaction fails with `RegisterNumbersTaken` and the caller numbers again.

Timers that fail are parked (`parked_timers`, shape in `shared/runtime/failures.py`) and not fired
again until released.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import (
    ApplicationRecorder,
    InfrastructureFactory,
    IntegrityError,
    InterfaceError,
    OperationalError,
    Tracking,
)
from eventsourcing.postgres import PostgresDatastore, PostgresProcessRecorder
from eventsourcing.utils import Environment
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier, Literal

from shared.runtime.checkpoints import Signer
from shared.runtime.failures import EventTooLarge
from shared.runtime.leases import LeaseLost, fence_check
from shared.runtime.mapper import EventMapper
from shared.runtime.settings import BROKER_MAX_PAYLOAD, MAX_EVENT_BYTES, postgres_env

__all__ = [
    "AftersalesRecorder",
    "ChainLink",
    "IntegrityError",
    "ParkedTimer",
    "PostgresStore",
    "RegisterClaim",
    "RegisterNumbersTaken",
    "StoredApplication",
    "Timer",
    "Tracking",
    "build_application",
]


_json = msgspec.json.Encoder()
DDL_LOCK_CLASS = 0x0DD1
"""First key of the two-key advisory lock that serialises a schema's DDL (the second key is
`hashtext(schema)`); two-key locks never collide with the one-key locks the services take per row."""
GENESIS = b"\x00" * 32


def chain_hash(previous_hash: bytes, notification_id: int, event: Any) -> bytes:
    """sha256(previous hash ‖ position ‖ originator id ‖ version ‖ topic ‖ state)."""
    digest = hashlib.sha256(previous_hash)
    digest.update(f"{notification_id}|{event.originator_id}|{event.originator_version}|{event.topic}|".encode())
    digest.update(bytes(event.state))
    return digest.digest()


@dataclass(frozen=True)
class ChainLink:
    """A row of `audit_chain`: the event's hash, its predecessor, and on the last link of a
    transaction the writer's signed checkpoint (`shared.runtime.checkpoints`)."""

    position: int
    previous_id: int | None
    hash: bytes
    signed_at: dt.datetime | None = None
    signature: bytes | None = None


@dataclass(frozen=True)
class Timer:
    """A deadline: once the clock is past `due_at` (strictly: the due minute itself is still in
    time), `kind` is handed to the aggregate once."""

    timer_id: str
    aggregate_id: uuid.UUID
    kind: str
    due_at: dt.datetime


@dataclass(frozen=True)
class RegisterClaim:
    """INT-REGISTER: the events of this transaction carry the numbers `after + 1 … after + count` of
    `year`, so the year's counter must still stand at `after` (else `RegisterNumbersTaken`)."""

    year: int
    after: int
    count: int


class RegisterNumbersTaken(Exception):
    """Another writer took register numbers since they were read; number the batch again."""


@dataclass(frozen=True)
class ParkedTimer:
    timer_id: str
    reason: str
    parked_at: dt.datetime


def unique_timers(timers: Sequence[Timer]) -> list[dict[str, Any]]:
    """One row per timer id, as a sequence of upserts would leave it: the first row's aggregate and
    kind, the last row's due time (`ON CONFLICT DO UPDATE` may not touch one row twice in a statement)."""
    rows: dict[str, dict[str, Any]] = {}
    for timer in timers:
        row = rows.get(timer.timer_id)
        if row is None:
            rows[timer.timer_id] = {"timer_id": timer.timer_id, "aggregate_id": timer.aggregate_id,
                                    "kind": timer.kind, "due_at": timer.due_at}  # fmt: skip
        else:
            row["due_at"] = timer.due_at
    return list(rows.values())


INSERT_ATTEMPTS = 5
LOCK_TIMEOUT_MS = 10_000


def connection_lost(exc: BaseException) -> bool:
    """A failure of the connection itself (no SQLSTATE, or class 08), not of the statements."""
    if isinstance(exc, InterfaceError):
        return True
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    return sqlstate is None or sqlstate.startswith("08")


class AftersalesRecorder(PostgresProcessRecorder):
    max_event_bytes: int = MAX_EVENT_BYTES
    """What the store accepts is what the relay can publish: see `refuse_oversize`."""
    signer: Signer | None = None
    """Signs the last link of each transaction (`PostgresStore(signer=…)`); None: links unsigned."""
    lock_timeout_ms: int = LOCK_TIMEOUT_MS
    """How long a write waits for a lock (the register counter, the event table, a tracking row)
    before failing transiently: another session holding it that long is an outage, not a queue."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.fences: dict[str, tuple[int, str, int]] = {}
        """tracking name → (partition, owner, epoch): the lease a position write needs (leases.py)."""
        schema = Identifier(datastore.schema)
        self.sql_create_statements.extend(
            [
                SQL(
                    "CREATE TABLE IF NOT EXISTS {0}.timers (timer_id text PRIMARY KEY, aggregate_id uuid NOT NULL,"
                    " kind text NOT NULL, due_at timestamptz NOT NULL)"
                ).format(schema),
                SQL("CREATE INDEX IF NOT EXISTS timers_due ON {0}.timers (due_at)").format(schema),
                SQL(
                    "CREATE TABLE IF NOT EXISTS {0}.fired_timers (timer_id text PRIMARY KEY,"
                    " fired_at timestamptz NOT NULL)"
                ).format(schema),
                SQL("CREATE TABLE IF NOT EXISTS {0}.processed_keys (key text PRIMARY KEY)").format(schema),
                SQL(
                    "CREATE TABLE IF NOT EXISTS {0}.audit_chain (notification_id bigint PRIMARY KEY,"
                    " previous_id bigint, hash bytea NOT NULL)"
                ).format(schema),
                # The writer's signed checkpoint on the last link of each transaction (checkpoints.py).
                SQL(
                    "ALTER TABLE {0}.audit_chain ADD COLUMN IF NOT EXISTS signed_at timestamptz,"
                    " ADD COLUMN IF NOT EXISTS signature bytea"
                ).format(schema),
                SQL(
                    "CREATE TABLE IF NOT EXISTS {0}.clock (id int PRIMARY KEY CHECK (id = 1), now timestamptz NOT NULL)"
                ).format(schema),
                SQL("CREATE TABLE IF NOT EXISTS {0}.lookups (key text PRIMARY KEY, aggregate_id uuid NOT NULL)").format(
                    schema
                ),
                SQL(
                    "CREATE TABLE IF NOT EXISTS {0}.register_counter (year int PRIMARY KEY, last bigint NOT NULL)"
                ).format(schema),
                # Numbers given by the sequence of earlier versions: the counter goes on after them.
                SQL(
                    "INSERT INTO {0}.register_counter (year, last)"
                    " SELECT substr(key, 17, 4)::int, max(substr(key, 22)::bigint) FROM {0}.lookups"
                    " WHERE key ~ '^complaint_no:TS-[0-9]{{4}}-[0-9]+$' GROUP BY 1 ON CONFLICT (year) DO NOTHING"
                ).format(schema),
                SQL(
                    "CREATE TABLE IF NOT EXISTS {0}.parked_timers (timer_id text PRIMARY KEY, reason text NOT NULL,"
                    " parked_at timestamptz NOT NULL)"
                ).format(schema),
            ]
        )
        # Each side effect is one set-based statement: the library runs them inside a psycopg
        # pipeline, and hundreds of single-row statements there can stall the pipeline.
        # Rows travel as one JSON document: far cheaper to send than four typed arrays.
        self._insert_timers = SQL(
            "INSERT INTO {0}.timers (timer_id, aggregate_id, kind, due_at)"
            " SELECT t.timer_id, t.aggregate_id, t.kind, t.due_at FROM jsonb_to_recordset(%s::jsonb)"
            " AS t(timer_id text, aggregate_id uuid, kind text, due_at timestamptz)"
            " ON CONFLICT (timer_id) DO UPDATE SET due_at = EXCLUDED.due_at"
        ).format(schema)
        self._insert_fired = SQL(
            "INSERT INTO {0}.fired_timers (timer_id, fired_at) SELECT t, %s FROM unnest(%s::text[]) AS t"
        ).format(schema)
        self._insert_lookups = SQL(
            "INSERT INTO {0}.lookups (key, aggregate_id) SELECT t.key, t.aggregate_id"
            " FROM jsonb_to_recordset(%s::jsonb) AS t(key text, aggregate_id uuid)"
        ).format(schema)
        self._select_lookup = SQL("SELECT aggregate_id FROM {0}.lookups WHERE key = %s").format(schema)
        self._insert_keys = SQL("INSERT INTO {0}.processed_keys (key) SELECT * FROM unnest(%s::text[])").format(schema)
        self._due_timers = SQL(
            "SELECT t.timer_id, t.aggregate_id, t.kind, t.due_at FROM {0}.timers t"
            " WHERE t.due_at < %s AND NOT EXISTS (SELECT 1 FROM {0}.fired_timers f WHERE f.timer_id = t.timer_id)"
            " AND NOT EXISTS (SELECT 1 FROM {0}.parked_timers p WHERE p.timer_id = t.timer_id)"
            " ORDER BY t.due_at, t.timer_id LIMIT %s"
        ).format(schema)
        self._existing = SQL(
            "SELECT originator_id FROM {0}.{1} WHERE originator_id = ANY(%s) AND originator_version = 1"
        ).format(schema, Identifier(self.events_table_name))
        self._existing_keys = SQL("SELECT key FROM {0}.processed_keys WHERE key = ANY(%s)").format(schema)
        self._register_last = SQL("SELECT year, last FROM {0}.register_counter WHERE year = ANY(%s)").format(schema)
        self._take_numbers = SQL(
            "UPDATE {0}.register_counter SET last = last + %s WHERE year = %s AND last = %s"
        ).format(schema)
        self._first_numbers = SQL(
            "INSERT INTO {0}.register_counter (year, last) VALUES (%s, %s) ON CONFLICT (year) DO NOTHING"
        ).format(schema)
        self._schema = datastore.schema
        self._chain_head = SQL(
            "SELECT notification_id, hash FROM {0}.audit_chain ORDER BY notification_id DESC LIMIT 1"
        ).format(schema)
        self._insert_chain = SQL(
            "INSERT INTO {0}.audit_chain (notification_id, previous_id, hash, signed_at, signature)"
            " SELECT * FROM unnest(%s::int8[], %s::int8[], %s::bytea[], %s::timestamptz[], %s::bytea[])"
        ).format(schema)
        self._chain_links = SQL(
            "SELECT notification_id, previous_id, hash, signed_at, signature FROM {0}.audit_chain"
            " WHERE notification_id BETWEEN %s AND %s ORDER BY notification_id"
        ).format(schema)
        self._insert_columns = SQL(
            "INSERT INTO {0}.{1} (originator_id, originator_version, topic, state)"
            " SELECT * FROM unnest(%s::uuid[], %s::int4[], %s::text[], %s::bytea[]) RETURNING notification_id"
        ).format(schema, Identifier(self.events_table_name))

    def create_table(self) -> None:
        """The library's DDL under a session advisory lock, and none at all when it was applied before.

        The DDL is one transaction whose `CREATE INDEX IF NOT EXISTS` statements take a SHARE lock on
        their table even when the index exists: the events table first, then `timers`. A running
        service's insert takes `timers`, then the events table: a process starting next to a busy one
        deadlocked (`DeadlockDetected` on `timers_due`). So the DDL records a fingerprint of its
        statements in `ddl_applied` once it has committed; a process that finds its own fingerprint
        there takes no table lock, and leaves the library only its bookkeeping (tracking migration,
        type adapters), run with no statements. Changed statements (a new table) run the DDL again."""
        key = (DDL_LOCK_CLASS, self._schema)
        with self.datastore.get_connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", key)
            try:
                fingerprint = self._ddl_fingerprint(conn)
                if self._ddl_applied(conn, fingerprint):
                    statements, self.sql_create_statements = self.sql_create_statements, []
                    try:
                        super().create_table()
                    finally:
                        self.sql_create_statements = statements
                    return
                super().create_table()
                schema = Identifier(self._schema)
                conn.execute(
                    SQL("CREATE TABLE IF NOT EXISTS {0}.ddl_applied (fingerprint text PRIMARY KEY,"
                        " applied_at timestamptz NOT NULL DEFAULT now())").format(schema)
                )  # fmt: skip
                conn.execute(
                    SQL("INSERT INTO {0}.ddl_applied (fingerprint) VALUES (%s) ON CONFLICT DO NOTHING").format(schema),
                    (fingerprint,),
                )
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", key)

    def _ddl_fingerprint(self, conn: psycopg.Connection[DictRow]) -> str:
        text = "\n".join(statement.as_string(conn) for statement in self.sql_create_statements)
        return hashlib.sha256(text.encode()).hexdigest()

    def _ddl_applied(self, conn: psycopg.Connection[DictRow], fingerprint: str) -> bool:
        row = conn.execute("SELECT to_regclass(%s) AS t", (f"{_quote(self._schema)}.ddl_applied",)).fetchone()
        if row is None or row["t"] is None:
            return False
        query = SQL("SELECT 1 FROM {0}.ddl_applied WHERE fingerprint = %s").format(Identifier(self._schema))
        return conn.execute(query, (fingerprint,)).fetchone() is not None

    def insert_events(self, stored_events: Sequence[Any], **kwargs: Any) -> Sequence[int] | None:
        """`_insert_once`, tried again in place only when the connection was lost (a pooled connection
        the server closed): any other failure (a lock timeout, …) is for the caller to classify."""
        for attempt in range(1, INSERT_ATTEMPTS + 1):
            try:
                return self._insert_once(stored_events, **kwargs)
            except (InterfaceError, OperationalError) as exc:
                if attempt == INSERT_ATTEMPTS or not connection_lost(exc):
                    raise
                time.sleep(0.2 * attempt)
        return None

    def _insert_once(self, stored_events: Sequence[Any], **kwargs: Any) -> Sequence[int] | None:
        """The library's insert, in one plain transaction instead of a psycopg pipeline.

        With batches of a few hundred events (a few MB in one array parameter) the pipelined
        version stalled: the server waited for input while the client waited in `Pipeline.sync`.
        The statements are the library's own: side effects, table lock, NOTIFY, insert, ids.
        """
        self.refuse_oversize(stored_events)
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            curs.execute(SQL("SET LOCAL lock_timeout = {0}").format(Literal(f"{int(self.lock_timeout_ms)}ms")))
            self._insert_events(curs, stored_events, **kwargs)
            if not stored_events:
                return None
            self._insert_stored_events(curs, stored_events, **kwargs)
            ids = self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
            if ids:
                self._extend_chain(curs, stored_events, ids)
            return ids

    def refuse_oversize(self, stored_events: Sequence[Any]) -> None:
        """Raise `EventTooLarge` before any write if an event's stored form is over `max_event_bytes`.

        An event the relay cannot publish (NATS max payload) would stop every later event of the
        service behind it, so it is never stored: the command is refused, the message dead-lettered."""
        for event in stored_events:
            size = len(event.state)
            if size > self.max_event_bytes:
                raise EventTooLarge(
                    f"event {event.topic} of {event.originator_id} (version {event.originator_version}) is"
                    f" {size} bytes stored; the limit is {self.max_event_bytes} (AFTERSALES_MAX_EVENT_BYTES),"
                    f" kept below the broker's max payload of {BROKER_MAX_PAYLOAD} bytes"
                )

    def _extend_chain(self, curs: Cursor[DictRow], stored_events: Sequence[Any], ids: Sequence[int]) -> None:
        """Tamper evidence: each event's hash covers the previous hash and the event's bytes. Runs
        under the table lock the insert took, so the chain follows the commit order."""
        curs.execute(self._chain_head)
        head = curs.fetchone()
        previous_id, previous_hash = (None, GENESIS) if head is None else (head["notification_id"], bytes(head["hash"]))
        rows_id, rows_prev, rows_hash = [], [], []
        for notification_id, event in sorted(zip(ids, stored_events, strict=True), key=lambda pair: pair[0]):
            digest = chain_hash(previous_hash, notification_id, event)
            rows_id.append(notification_id)
            rows_prev.append(previous_id)
            rows_hash.append(digest)
            previous_id, previous_hash = notification_id, digest
        rows_at: list[dt.datetime | None] = [None] * len(rows_id)
        rows_sig: list[bytes | None] = [None] * len(rows_id)
        if self.signer is not None:
            at = dt.datetime.now(dt.UTC)
            rows_at[-1] = at
            rows_sig[-1] = self.signer.sign(self._schema, rows_id[-1], rows_hash[-1], at)
        curs.execute(self._insert_chain, (rows_id, rows_prev, rows_hash, rows_at, rows_sig), binary=True)

    def _insert_stored_events(self, curs: Cursor[DictRow], stored_events: Sequence[Any], **kwargs: Any) -> None:
        """The library's insert (table lock for commit-ordered ids, NOTIFY, RETURNING ids), with the
        rows sent as four binary arrays instead of one text-format composite array (~45 µs/event less)."""
        self._lock_table(curs)
        self._notify_channel(curs)
        curs.execute(
            self._insert_columns,
            (
                [e.originator_id for e in stored_events],
                [e.originator_version for e in stored_events],
                [e.topic for e in stored_events],
                [e.state for e in stored_events],
            ),
            binary=True,
        )

    def _insert_events(self, curs: Cursor[DictRow], stored_events: Sequence[Any], **kwargs: Any) -> None:
        claims: Sequence[RegisterClaim] = kwargs.get("numbers", ())
        if claims:
            self._take_register_numbers(curs, claims)
        position: Tracking | None = kwargs.get("position")
        if position is not None:
            self._check_fence(curs, position.application_name)
            self._insert_tracking(curs, position)
        timers: Sequence[Timer] = kwargs.get("timers", ())
        if timers:
            curs.execute(self._insert_timers, (_json.encode(unique_timers(timers)).decode(),))
        fired: Sequence[str] = kwargs.get("fired", ())
        if fired:
            curs.execute(self._insert_fired, (kwargs["fired_at"], list(fired)))
        lookups: Sequence[tuple[str, uuid.UUID]] = kwargs.get("lookups", ())
        if lookups:
            rows = [{"key": k, "aggregate_id": a} for k, a in lookups]
            curs.execute(self._insert_lookups, (_json.encode(rows).decode(),))
        keys: Sequence[str] = kwargs.get("keys", ())
        if keys:
            curs.execute(self._insert_keys, (list(keys),))
        super()._insert_events(curs, stored_events, **kwargs)

    def _check_fence(self, curs: Cursor[DictRow], tracking: str) -> None:
        """A partition's position is written only while this instance holds its lease (shared/runtime/leases.py)."""
        fence = self.fences.get(tracking)
        if fence is not None:
            curs.execute(fence_check(self._schema), fence)
            if curs.fetchone() is None:
                raise LeaseLost(f"the lease of {tracking} is no longer this instance's")

    def _take_register_numbers(self, curs: Cursor[DictRow], claims: Sequence[RegisterClaim]) -> None:
        """INT-REGISTER: move each year's counter past the claimed numbers, or fail the transaction.
        The counter row stays locked until commit, so committed numbers always form a prefix."""
        for claim in sorted(claims, key=lambda c: c.year):  # one lock order: no deadlock between writers
            if claim.after == 0:
                curs.execute(self._first_numbers, (claim.year, claim.count))
            else:
                curs.execute(self._take_numbers, (claim.count, claim.year, claim.after))
            if curs.rowcount != 1:
                raise RegisterNumbersTaken(f"register {claim.year} moved past {claim.after}")

    # --- reads used by the application services (no writes outside `insert_events`)

    def chain_links(self, first: int, last: int) -> dict[int, ChainLink]:
        """The chain links of positions `first` … `last` (the relay checks them before publishing)."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._chain_links, (first, last), prepare=True, binary=True)
            return {
                r["notification_id"]: ChainLink(
                    r["notification_id"],
                    r["previous_id"],
                    bytes(r["hash"]),
                    r["signed_at"],
                    None if r["signature"] is None else bytes(r["signature"]),
                )
                for r in curs.fetchall()
            }

    def tracked(self, tracking: str, upstream: str) -> int:
        """The position recorded under `tracking` (a partition's, `shared/runtime/partitions.py`), and
        at least the one the single consumer of `upstream` recorded before the stream was partitioned."""
        own = self.max_tracking_id(tracking) or 0
        return own if tracking == upstream else max(own, self.max_tracking_id(upstream) or 0)

    def existing_aggregates(self, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._existing, (list(ids),), prepare=True, binary=True)
            return {row["originator_id"] for row in curs.fetchall()}

    def existing_keys(self, keys: Sequence[str]) -> set[str]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._existing_keys, (list(keys),), prepare=True)
            return {row["key"] for row in curs.fetchall()}

    def load_clock(self) -> dt.datetime | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SQL("SELECT now FROM {0}.clock WHERE id = 1").format(Identifier(self._schema)))
            row = curs.fetchone()
            return None if row is None else row["now"]

    def save_clock(self, now: dt.datetime) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                SQL(
                    "INSERT INTO {0}.clock (id, now) VALUES (1, %s)"
                    " ON CONFLICT (id) DO UPDATE SET now = GREATEST({0}.clock.now, EXCLUDED.now)"
                ).format(Identifier(self._schema)),
                (now,),
            )

    def lookup(self, key: str) -> uuid.UUID | None:
        """An aggregate id by a business key (e.g. `complaint_no:TS-2026-00000001`)."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_lookup, (key,), prepare=True)
            row = curs.fetchone()
            return None if row is None else row["aggregate_id"]

    def due_timers(self, now: dt.datetime, limit: int = 500) -> list[Timer]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._due_timers, (now, limit), prepare=True)
            return [Timer(r["timer_id"], r["aggregate_id"], r["kind"], r["due_at"]) for r in curs.fetchall()]

    def register_last(self, years: Sequence[int]) -> dict[int, int]:
        """INT-REGISTER: the last number given in each year (0 if none yet). Numbers are taken by
        saving with `numbers=[RegisterClaim(year, last, count)]`, never here."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._register_last, (list(years),), prepare=True)
            found = {row["year"]: row["last"] for row in curs.fetchall()}
        return {year: found.get(year, 0) for year in years}

    def register_gaps(self) -> list[tuple[int, int]]:
        """INT-REGISTER: (year, number) below each year's last that neither a complaint nor a void
        record carries. Committed numbers always form a prefix (the counter row is locked until
        commit), so one statement's snapshot shows no gap that a running registration would fill."""
        padded = SQL("'TS-' || c.year || '-' || lpad(n::text, greatest(8, length(n::text)), '0')")
        query = SQL(
            "SELECT c.year, n FROM {0}.register_counter c, generate_series(1, c.last) AS n"
            " WHERE NOT EXISTS (SELECT 1 FROM {0}.lookups l WHERE l.key = 'complaint_no:' || {1})"
            " AND NOT EXISTS (SELECT 1 FROM {0}.lookups l WHERE l.key = 'void_no:' || {1}) ORDER BY 1, 2"
        ).format(Identifier(self._schema), padded)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(query)
            return [(row["year"], row["n"]) for row in curs.fetchall()]

    def park_timer(self, timer_id: str, reason: str, parked_at: dt.datetime) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                SQL(
                    "INSERT INTO {0}.parked_timers (timer_id, reason, parked_at) VALUES (%s, %s, %s)"
                    " ON CONFLICT (timer_id) DO UPDATE SET reason = EXCLUDED.reason, parked_at = EXCLUDED.parked_at"
                ).format(Identifier(self._schema)),
                (timer_id, reason, parked_at),
            )

    def parked_timers(self) -> list[ParkedTimer]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                SQL("SELECT timer_id, reason, parked_at FROM {0}.parked_timers ORDER BY parked_at, timer_id").format(
                    Identifier(self._schema)
                )
            )
            return [ParkedTimer(r["timer_id"], r["reason"], r["parked_at"]) for r in curs.fetchall()]

    def parked_count(self) -> int:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(SQL("SELECT count(*) AS n FROM {0}.parked_timers").format(Identifier(self._schema)))
            row = curs.fetchone()
            return 0 if row is None else int(row["n"])

    def release_timer(self, timer_id: str) -> bool:
        """Let a parked timer fire again on the next tick; False if it was not parked."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                SQL("DELETE FROM {0}.parked_timers WHERE timer_id = %s").format(Identifier(self._schema)), (timer_id,)
            )
            return curs.rowcount == 1


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


class PostgresStore:
    """The event store of one application on PostgreSQL: the real adapter that a composition root
    (`services/<name>/main.py`) builds and gives to the application (`StoredApplication`).

    It holds the library's infrastructure factory (connection pool, mapper settings) and its recorder,
    an `AftersalesRecorder` whose tables are in `schema` (events in `<name>_events`); the recorder
    refuses an event stored larger than `max_event_bytes` with `EventTooLarge`; with a `signer`, the
    last chain link of each transaction carries a signed checkpoint.

    Several processes may start at once on one schema (intake and its relay): the schema, and then
    the tables (`AftersalesRecorder.create_table`), are created under an advisory lock, so their DDL
    never races."""

    def __init__(
        self,
        name: str,
        database_url: str,
        schema: str,
        pool_size: int = 4,
        max_event_bytes: int = MAX_EVENT_BYTES,
        signer: Signer | None = None,
    ) -> None:
        env = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "APPLICATION_RECORDER_TOPIC": f"{AftersalesRecorder.__module__}:{AftersalesRecorder.__qualname__}",
            "MAPPER_TOPIC": f"{EventMapper.__module__}:{EventMapper.__qualname__}",
            "POSTGRES_SCHEMA": schema,
            "POSTGRES_POOL_SIZE": str(pool_size),
            "POSTGRES_MAX_OVERFLOW": "4",
            "POSTGRES_CONNECT_TIMEOUT": "10",
            **postgres_env(database_url),
        }
        with psycopg.connect(database_url, autocommit=True, connect_timeout=10) as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (DDL_LOCK_CLASS, schema))
            conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {0}").format(Identifier(schema)))
        self.name = name.lower()
        self.factory: InfrastructureFactory[Any] = InfrastructureFactory.construct(Environment(name, env))
        recorder = self.factory.application_recorder()
        if not isinstance(recorder, AftersalesRecorder):
            raise TypeError(f"{type(recorder).__name__} is not an AftersalesRecorder")
        recorder.max_event_bytes = max_event_bytes
        recorder.signer = signer
        self.recorder = recorder

    def close(self) -> None:
        self.factory.close()


class StoredApplication(Application[uuid.UUID]):
    """An eventsourcing application that takes its event store as a parameter instead of building
    one from the environment (cosmicpython's bootstrap: the composition root wires the adapter)."""

    def __init__(self, store: PostgresStore) -> None:
        if store.name != self.name.lower():
            raise ValueError(f"the store of {store.name!r} given to the application {self.name!r}")
        self.store = store
        super().__init__()

    def construct_factory(self, env: Environment) -> InfrastructureFactory[Any]:
        return self.store.factory

    def construct_recorder(self) -> ApplicationRecorder:
        return self.store.recorder


A = TypeVar("A", bound=StoredApplication)


def build_application(
    cls: type[A],
    database_url: str,
    schema: str,
    pool_size: int = 4,
    max_event_bytes: int = MAX_EVENT_BYTES,
    signer: Signer | None = None,
) -> A:
    """`cls` on its PostgreSQL store in `schema` (`PostgresStore`): the composition in one call, for
    tests and the command line."""
    return cls(PostgresStore(cls.name, database_url, schema, pool_size, max_event_bytes, signer))


def recorder_of(app: Application[uuid.UUID]) -> AftersalesRecorder:
    recorder = app.recorder
    if not isinstance(recorder, AftersalesRecorder):
        raise TypeError("application was not built on a PostgresStore")
    return recorder
