"""Customers' keys in PostgreSQL (schema `<namespace>pii`): the key table behind `personal.py`
that PII-SEAL seals with and PII-ERASE destroys keys in.

- `index_secret`: one random secret, the key of the HMAC index (`customer_subject`), so the table
  never holds a phone number, not even hashed without a secret.
- `customer_keys`: one live key per customer subject (a partial unique index); erasing destroys the
  secret (`key` set NULL) and keeps who erased it and when. A customer who calls again after an
  erasure gets a new key.
- `key_subjects`: further subjects of a key (a phone added to a record sealed under its call's key by
  CompleteRecord), so `erase --phone` finds every key that sealed that customer's data.

Production may keep the keys in a KMS instead: anything with the methods of `CustomerKeyStore`
(see docs/rules.md §11) plugs into intake and the read API in their composition roots.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol

import psycopg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from psycopg.rows import dict_row
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from shared.runtime.store import DDL_LOCK_CLASS
from shared.security.personal import KEY_BYTES, CustomerKey, KeyReader, new_key

DDL = (
    "CREATE TABLE IF NOT EXISTS {0}.index_secret (id int PRIMARY KEY CHECK (id = 1), secret bytea NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {0}.customer_keys (key_id text PRIMARY KEY, subject text NOT NULL, key bytea,"
    " created_at timestamptz NOT NULL DEFAULT now(), erased_at timestamptz, erased_by text)",
    "CREATE UNIQUE INDEX IF NOT EXISTS customer_keys_live ON {0}.customer_keys (subject) WHERE key IS NOT NULL",
    "CREATE TABLE IF NOT EXISTS {0}.key_subjects (subject text NOT NULL, key_id text NOT NULL"
    " REFERENCES {0}.customer_keys (key_id), PRIMARY KEY (subject, key_id))",
)


class CustomerKeyStore(KeyReader, Protocol):
    """The port intake seals and erases through (a key table here, a KMS in production)."""

    def index_secret(self) -> bytes: ...

    def close(self) -> None: ...

    def keys_for(self, subjects: Sequence[str]) -> dict[str, CustomerKey]:
        """The live key of each subject, made on first use."""
        ...

    def link(self, subject: str, key_ids: Iterable[str]) -> None:
        """`subject` names these keys too (erasing it destroys them)."""
        ...

    def erasing(self, subject: str, at: dt.datetime, by: str) -> AbstractContextManager[list[str]]:
        """Destroy every live key of `subject`, yielding their ids (none: nothing to erase); the
        destruction is committed only when the block ends without an exception (the block records
        the erasure), so an erasure is never done without its record."""
        ...


KEK_ENV = "AFTERSALES_PII_KEK_FILE"
WRAPPED = b"KEK1"
INDEX_KEY_ID = "pii-index"


class KeyTableLocked(RuntimeError):
    """The key table is wrapped with a key-encryption key this process was not given."""


def kek_from_env(env: Mapping[str, str] | None = None) -> bytes | None:
    """The key-encryption key from the file `AFTERSALES_PII_KEK_FILE` names (32 random bytes, base64),
    or None when unset: then the customers' keys are kept unwrapped."""
    path = (os.environ if env is None else env).get(KEK_ENV)
    if not path:
        return None
    try:
        kek = base64.b64decode(Path(path).read_text(encoding="ascii").strip(), validate=True)
    except (OSError, ValueError) as exc:
        raise KeyTableLocked(f"{KEK_ENV}={path}: {exc}") from None
    if len(kek) != KEY_BYTES:
        raise KeyTableLocked(f"{KEK_ENV}={path}: a key-encryption key is {KEY_BYTES} bytes, base64")
    return kek


class KeyWrap:
    """Customers' keys and the index secret wrapped with a key-encryption key kept outside the
    database (AES-256-GCM, the key id as associated data), so a dump with the key table opens nothing."""

    def __init__(self, kek: bytes | None) -> None:
        self.kek = kek

    def wrap(self, key_id: str, secret: bytes) -> bytes:
        if self.kek is None:
            return secret
        nonce = os.urandom(12)
        return WRAPPED + nonce + AESGCM(self.kek).encrypt(nonce, secret, key_id.encode())

    def unwrap(self, key_id: str, stored: bytes) -> bytes:
        if not stored.startswith(WRAPPED) or len(stored) == KEY_BYTES:
            return stored
        if self.kek is None:
            raise KeyTableLocked(f"the customers' keys are wrapped: set {KEK_ENV}")
        try:
            return AESGCM(self.kek).decrypt(stored[4:16], stored[16:], key_id.encode())
        except InvalidTag:
            raise KeyTableLocked(f"the key-encryption key of {KEK_ENV} does not open the key table") from None


class PostgresKeyStore:
    """The key table. Every wait is bounded like the read model's (`wait_s`, statement timeout).
    `kek`: the key-encryption key (default: from `AFTERSALES_PII_KEK_FILE`, none if unset)."""

    def __init__(
        self, database_url: str, schema: str, pool_size: int = 2, wait_s: float = 5.0, kek: bytes | None = None
    ) -> None:
        self.wrap = KeyWrap(kek if kek is not None else kek_from_env())
        self.schema = schema
        self.pool: ConnectionPool[psycopg.Connection[dict[str, Any]]] = ConnectionPool(
            database_url,
            min_size=1,
            max_size=pool_size,
            kwargs={
                "row_factory": dict_row,
                "autocommit": True,
                "connect_timeout": max(1, round(wait_s)),
                "options": "-c statement_timeout=30000",
            },
            open=False,
            timeout=wait_s,
            check=ConnectionPool.check_connection,
            reconnect_timeout=wait_s,
        )
        self._secret: bytes | None = None
        s = Identifier(schema)
        self._sql = {
            "secret": SQL("SELECT secret FROM {0}.index_secret WHERE id = 1").format(s),
            "new_secret": SQL("INSERT INTO {0}.index_secret (id, secret) VALUES (1, %s) ON CONFLICT DO NOTHING").format(
                s
            ),
            "insert": SQL(
                "INSERT INTO {0}.customer_keys (key_id, subject, key) SELECT * FROM unnest(%s::text[], %s::text[],"
                " %s::bytea[]) ON CONFLICT (subject) WHERE key IS NOT NULL DO NOTHING"
            ).format(s),
            "live": SQL(
                "SELECT subject, key_id, key FROM {0}.customer_keys WHERE subject = ANY(%s) AND key IS NOT NULL"
            ).format(s),
            "by_id": SQL("SELECT key_id, key FROM {0}.customer_keys WHERE key_id = ANY(%s) AND key IS NOT NULL").format(
                s
            ),
            "link": SQL(
                "INSERT INTO {0}.key_subjects (subject, key_id) SELECT %s, k FROM unnest(%s::text[]) AS k"
                " ON CONFLICT DO NOTHING"
            ).format(s),
            # An erased key keeps no trace of its customer: its subject (the keyed index of the phone,
            # which the index secret would let anyone holding both test phone numbers against) and
            # its further subjects go with it.
            "destroy": SQL(
                "UPDATE {0}.customer_keys SET key = NULL, subject = 'erased:' || key_id, erased_at = %s,"
                " erased_by = %s WHERE key IS NOT NULL AND key_id = ANY(%s) RETURNING key_id"
            ).format(s),
            "erase": SQL(
                "UPDATE {0}.customer_keys SET key = NULL, subject = 'erased:' || key_id, erased_at = %s,"
                " erased_by = %s WHERE key IS NOT NULL"
                " AND (subject = %s OR key_id IN (SELECT key_id FROM {0}.key_subjects WHERE subject = %s))"
                " RETURNING key_id"
            ).format(s),
            "unlink": SQL("DELETE FROM {0}.key_subjects WHERE subject = %s OR key_id = ANY(%s)").format(s),
        }

    def open(self) -> None:
        self.pool.open(wait=True)
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (DDL_LOCK_CLASS, self.schema))
            conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {0}").format(Identifier(self.schema)))
            for statement in DDL:
                conn.execute(SQL(statement).format(Identifier(self.schema)))
            conn.execute(self._sql["new_secret"], (self.wrap.wrap(INDEX_KEY_ID, os.urandom(KEY_BYTES)),))
        self._secret = None
        self.index_secret()  # a wrapped table without its key-encryption key fails here, at start

    def close(self) -> None:
        self.pool.close()

    def index_secret(self) -> bytes:
        if self._secret is None:
            with self.pool.connection() as conn:
                row = conn.execute(self._sql["secret"]).fetchone()
            if row is None:
                raise LookupError(f"no index secret in {self.schema}: open() the key store first")
            self._secret = self.wrap.unwrap(INDEX_KEY_ID, bytes(row["secret"]))
        return self._secret

    def keys_for(self, subjects: Sequence[str]) -> dict[str, CustomerKey]:
        wanted = sorted(set(subjects))
        found: dict[str, CustomerKey] = {}
        for _ in range(3):  # a key erased between insert and select is made again
            fresh = [(s, new_key()) for s in wanted if s not in found]
            if not fresh:
                break
            with self.pool.connection() as conn:
                conn.execute(self._sql["insert"], ([k.key_id for _, k in fresh], [s for s, _ in fresh],
                                                   [self.wrap.wrap(k.key_id, k.secret) for _, k in fresh]))  # fmt: skip
                rows = conn.execute(self._sql["live"], ([s for s, _ in fresh],)).fetchall()
            found.update({r["subject"]: CustomerKey(r["key_id"], self.wrap.unwrap(r["key_id"], bytes(r["key"])))
                          for r in rows})  # fmt: skip
        missing = [s for s in wanted if s not in found]
        if missing:
            raise LookupError(f"{len(missing)} customer keys could not be made")
        return found

    def live_keys(self, key_ids: Iterable[str]) -> dict[str, bytes]:
        ids = sorted(set(key_ids))
        if not ids:
            return {}
        with self.pool.connection() as conn:
            rows = conn.execute(self._sql["by_id"], (ids,)).fetchall()
        return {r["key_id"]: self.wrap.unwrap(r["key_id"], bytes(r["key"])) for r in rows}

    def link(self, subject: str, key_ids: Iterable[str]) -> None:
        ids = sorted(set(key_ids))
        if ids:
            with self.pool.connection() as conn:
                conn.execute(self._sql["link"], (subject, ids))

    @contextmanager
    def erasing(self, subject: str, at: dt.datetime, by: str) -> Iterator[list[str]]:
        with self.pool.connection() as conn, conn.transaction():
            rows = conn.execute(self._sql["erase"], (at, by, subject, subject)).fetchall()
            erased = sorted(r["key_id"] for r in rows)
            conn.execute(self._sql["unlink"], (subject, erased))
            yield erased

    def destroy(self, key_ids: Iterable[str], at: dt.datetime, by: str) -> list[str]:
        """Destroy these keys if they still exist (after a restore: the erasures recorded since);
        return the ids destroyed now."""
        ids = sorted(set(key_ids))
        if not ids:
            return []
        with self.pool.connection() as conn, conn.transaction():
            rows = conn.execute(self._sql["destroy"], (at, by, ids)).fetchall()
            conn.execute(self._sql["unlink"], ("", ids))
        return sorted(r["key_id"] for r in rows)
