"""Built-in API tokens (`aftersales users add|list|revoke`), kept in PostgreSQL schema `auth`.

A token is `ast_<credential id>_<secret>`: the credential id finds the row, the secret is 32 random
bytes from `secrets` (256 bits). Only SHA-256 of the whole token is stored. A slow password KDF
(argon2, scrypt) protects guessable human passwords; against a 256-bit random secret SHA-256 preimage
search is already infeasible, and a fast hash keeps the check cheap on every request and every command.
Comparison is constant-time (`hmac.compare_digest`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any, get_args

import psycopg
from psycopg.rows import dict_row
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from shared.events.commands import Role
from shared.runtime.store import DDL_LOCK_CLASS
from shared.security.principal import Principal, Unauthenticated

PREFIX = "ast_"
ROLES: tuple[str, ...] = get_args(Role)
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")
"""A person's id: no `:` (it is written into causation ids), no spaces."""
_TOKEN = re.compile(r"^ast_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")


class UserError(ValueError):
    """A user that cannot be added or revoked as asked."""


@dataclass(frozen=True)
class User:
    id: str
    name: str
    role: str
    department: str | None
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    tokens: int


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


class TokenStore:
    """The `auth` schema: `users` (id, name, role, department) and `tokens` (credential id, sha256)."""

    def __init__(self, database_url: str, schema: str = "auth", max_size: int = 2) -> None:
        self.database_url = database_url
        self.schema = schema
        self.max_size = max_size
        self._pool: ConnectionPool[psycopg.Connection[dict[str, Any]]] | None = None

    @property
    def pool(self) -> ConnectionPool[psycopg.Connection[dict[str, Any]]]:
        if self._pool is None:
            self.open()  # again, after a close (a service restarted in the same process)
        assert self._pool is not None
        return self._pool

    def open(self) -> TokenStore:
        """Open the pool (a closed store may be opened again) and create the tables if need be."""
        if self._pool is None:
            self._pool = ConnectionPool(
                self.database_url, min_size=0, max_size=self.max_size, open=True, timeout=3, reconnect_timeout=5,
                check=ConnectionPool.check_connection,
                kwargs={"autocommit": True, "row_factory": dict_row, "connect_timeout": 3},
            )  # fmt: skip
            self.create_tables()
        return self

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def create_tables(self) -> None:
        """Under the same advisory lock as the event stores' DDL (shared/runtime/store.py); no table
        lock at all once the tables exist."""
        schema = Identifier(self.schema)
        with self.pool.connection() as conn, conn.transaction():
            row = conn.execute("SELECT to_regclass(%s) AS t", (f'"{self.schema}".tokens',)).fetchone()
            if row is not None and row["t"] is not None:
                return
            conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (DDL_LOCK_CLASS, self.schema))
            conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {0}").format(schema))
            conn.execute(
                SQL("CREATE TABLE IF NOT EXISTS {0}.users (id text PRIMARY KEY, name text NOT NULL,"
                    " role text NOT NULL, department text, created_at timestamptz NOT NULL DEFAULT now(),"
                    " revoked_at timestamptz)").format(schema)
            )  # fmt: skip
            conn.execute(
                SQL("CREATE TABLE IF NOT EXISTS {0}.tokens (credential_id text PRIMARY KEY,"
                    " user_id text NOT NULL REFERENCES {0}.users (id), token_sha256 bytea NOT NULL,"
                    " created_at timestamptz NOT NULL DEFAULT now(), revoked_at timestamptz)").format(schema)
            )  # fmt: skip

    def add_user(self, user_id: str, name: str, role: str, department: str | None = None) -> str:
        """Add a person with one token and return the token (shown once; only its hash is kept). An
        active person of that id gets a further token only with the same role and department."""
        if not _ID.match(user_id):
            raise UserError(f"invalid user id {user_id!r}: letters, digits, . _ @ - (no ':' or spaces)")
        if role not in ROLES:
            raise UserError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        if not name.strip():
            raise UserError("the name must not be empty")
        schema = Identifier(self.schema)
        credential_id = secrets.token_hex(6)
        token = f"{PREFIX}{credential_id}_{secrets.token_urlsafe(32)}"
        with self.pool.connection() as conn, conn.transaction():
            existing = conn.execute(
                SQL("SELECT role, department, revoked_at FROM {0}.users WHERE id = %s FOR UPDATE").format(schema),
                (user_id,),
            ).fetchone()
            if existing is None:
                conn.execute(
                    SQL("INSERT INTO {0}.users (id, name, role, department) VALUES (%s, %s, %s, %s)").format(schema),
                    (user_id, name, role, department),
                )
            elif existing["revoked_at"] is not None:
                raise UserError(f"user {user_id} was revoked; give the person a new id")
            elif (existing["role"], existing["department"]) != (role, department):
                raise UserError(
                    f"user {user_id} exists as {existing['role']}"
                    f"{' of ' + existing['department'] if existing['department'] else ''}; revoke it first"
                )
            conn.execute(
                SQL("INSERT INTO {0}.tokens (credential_id, user_id, token_sha256) VALUES (%s, %s, %s)").format(schema),
                (credential_id, user_id, token_digest(token)),
            )
        return token

    def users(self) -> list[User]:
        query = SQL(
            "SELECT u.id, u.name, u.role, u.department, u.created_at, u.revoked_at,"
            " count(t.credential_id) FILTER (WHERE t.revoked_at IS NULL) AS tokens"
            " FROM {0}.users u LEFT JOIN {0}.tokens t ON t.user_id = u.id GROUP BY u.id ORDER BY u.id"
        ).format(Identifier(self.schema))
        with self.pool.connection() as conn:
            return [User(**row) for row in conn.execute(query).fetchall()]

    def revoke(self, user_id: str) -> bool:
        """Revoke a person and every token of theirs; False if there is no such active person."""
        schema = Identifier(self.schema)
        with self.pool.connection() as conn, conn.transaction():
            done = conn.execute(
                SQL("UPDATE {0}.users SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL").format(schema),
                (user_id,),
            ).rowcount
            conn.execute(
                SQL("UPDATE {0}.tokens SET revoked_at = now() WHERE user_id = %s AND revoked_at IS NULL").format(
                    schema
                ),
                (user_id,),
            )
        return done == 1

    def verify(self, token: str) -> Principal:
        """The principal of an active token, or `Unauthenticated`."""
        match = _TOKEN.match(token)
        if match is None:
            raise Unauthenticated("not an API token of this system")
        query = SQL(
            "SELECT u.id, u.name, u.role, u.department, t.token_sha256 FROM {0}.tokens t JOIN {0}.users u"
            " ON u.id = t.user_id WHERE t.credential_id = %s AND t.revoked_at IS NULL AND u.revoked_at IS NULL"
        ).format(Identifier(self.schema))
        with self.pool.connection() as conn:
            row: dict[str, Any] | None = conn.execute(query, (match.group(1),)).fetchone()
        if row is None or not hmac.compare_digest(bytes(row["token_sha256"]), token_digest(token)):
            raise Unauthenticated("unknown or revoked API token")
        return Principal(id=row["id"], name=row["name"], role=row["role"], department=row["department"],
                         credential_id=f"tok-{match.group(1)}", method="token")  # fmt: skip


__all__ = ["PREFIX", "ROLES", "TokenStore", "User", "UserError"]
