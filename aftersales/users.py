"""`aftersales users add|list|revoke`: the built-in API tokens (shared/security/tokens.py).

    aftersales users add --id tq-003 --name 王芳 --role tq [--department technical_quality]
    aftersales users list [--json]
    aftersales users revoke tq-003

`add` prints the token once (only its SHA-256 is stored); send it as `Authorization: Bearer <token>`.
`./dev up` (`aftersales up --demo`) adds one demo user per role and prints their tokens.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

from shared.security.tokens import ROLES, TokenStore, UserError

CHINA = dt.timezone(dt.timedelta(hours=8))
"""Times shown to people are China time."""
DEMO_NAMES = {
    "agent": "演示坐席", "tq": "演示技术质量", "engineer": "演示工程师", "warehouse_keeper": "演示库管",
    "old_parts_officer": "演示旧件专员", "branch_manager": "演示分公司经理", "deputy_gm": "演示副总",
    "gm": "演示总经理", "finance": "演示财务", "ops": "演示运维", "viewer": "演示只读",
}  # fmt: skip


def _store() -> TokenStore:
    from shared.runtime.settings import Settings

    settings = Settings.from_env()
    return TokenStore(settings.database_url, settings.names.db_schema("auth")).open()


def demo_users(database_url: str, schema: str) -> dict[str, str]:
    """One demo person per role (`demo-<role>`), each with a fresh token: role → token."""
    store = TokenStore(database_url, schema).open()
    try:
        return {role: store.add_user(f"demo-{role.replace('_', '-')}", DEMO_NAMES[role], role) for role in ROLES}
    finally:
        store.close()


def cmd_users(args: argparse.Namespace) -> int:
    store = _store()
    try:
        if args.users_command == "add":
            try:
                token = store.add_user(args.id, args.name, args.role, args.department)
            except UserError as exc:
                print(f"users add: {exc}", file=sys.stderr)
                return 2
            print(f"added {args.id} ({args.role}); the API token, shown only now:", file=sys.stderr)
            print(token)
            return 0
        if args.users_command == "revoke":
            if not store.revoke(args.id):
                print(f"users revoke: no active user {args.id}", file=sys.stderr)
                return 1
            print(f"revoked {args.id} and every token of theirs")
            return 0
        users = store.users()
        if args.json:
            rows: list[dict[str, Any]] = [
                {**u.__dict__, "created_at": u.created_at.astimezone(CHINA).isoformat(),
                 "revoked_at": u.revoked_at.astimezone(CHINA).isoformat() if u.revoked_at else None} for u in users
            ]  # fmt: skip
            print(json.dumps(rows, ensure_ascii=False, indent=2))
            return 0
        for u in users:
            state = f"revoked {u.revoked_at.astimezone(CHINA):%Y-%m-%d}" if u.revoked_at else f"{u.tokens} token(s)"
            print(f"{u.id:<24} {u.role:<18} {u.department or '-':<20} {state:<14} {u.name}")
        return 0
    finally:
        store.close()


def add_parser(sub: Any) -> None:
    users = sub.add_parser("users", help="staff API tokens: add (prints the token once), list, revoke")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    add = users_sub.add_parser("add", help="add a person (or a further token of theirs) and print the token")
    add.add_argument("--id", required=True, help="the person's staff id, e.g. tq-003")
    add.add_argument("--name", required=True)
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--department", default=None)
    listing = users_sub.add_parser("list", help="every person: role, department, active tokens")
    listing.add_argument("--json", action="store_true")
    revoke = users_sub.add_parser("revoke", help="revoke a person and all their tokens")
    revoke.add_argument("id")
    for command in (add, listing, revoke):
        command.set_defaults(func=cmd_users)
