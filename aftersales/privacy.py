"""`aftersales privacy erase --phone … --by … --reason …`: a customer's deletion request under PIPL
(PII-ERASE, docs/rules.md §11).

Sends `ErasePersonalData` (role ops) to intake, which destroys the customer's keys (crypto-shredding)
and records `PersonalDataErased` with who asked, why and when. The events keep their sealed strings,
so `aftersales replay` and `aftersales audit verify` still pass; the read model and the dossiers show
`已删除` for the customer's name, phone and address.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from typing import TYPE_CHECKING, Any

import msgspec

from aftersales.opcommand import send_command
from shared.events.commands import Actor, ErasePersonalData

if TYPE_CHECKING:
    from shared.runtime.settings import Settings


async def _send(settings: Settings, command: dict[str, Any], token: str, timeout_s: float) -> int:
    subject = settings.names.commands("privacy")
    reply = await send_command(settings.nats_url, subject, command, token, timeout_s, settings.nats_options)
    if not reply.ok:
        print(f"privacy erase: refused ({reply.status}): {reply.error}", file=sys.stderr)
        return 1
    print("erased: the customer's keys are destroyed; recorded " + ", ".join(reply.events))
    return 0


ERASED_TOPICS = ["shared.events.intake_events:PersonalDataErased", "services.intake.domain:Erasure.Erased"]
"""The event's topic, and the one it was stored under before issue 12 (both JSON with `key_ids`)."""
CATCH_UP_S = 10.0


def erased_in_store(settings: Settings) -> set[str]:
    """The key ids every `PersonalDataErased` in intake's store names."""
    import psycopg
    from psycopg.sql import SQL, Identifier

    query = SQL("SELECT state FROM {0}.intake_events WHERE topic = ANY(%s)").format(
        Identifier(settings.names.db_schema("intake"))
    )
    with psycopg.connect(settings.database_url, autocommit=True, connect_timeout=10) as conn:
        try:
            rows = conn.execute(query, (ERASED_TOPICS,)).fetchall()
        except psycopg.errors.UndefinedTable:
            return set()
    return {key_id for (state,) in rows for key_id in msgspec.json.decode(bytes(state))["key_ids"]}


async def erased_in_stream(settings: Settings) -> set[str]:
    """The key ids every `PersonalDataErased` on intake's event stream names (an independent copy)."""
    import nats
    import nats.js.errors
    from nats.aio.msg import Msg
    from nats.js.api import DeliverPolicy

    from shared.events.catalog import PersonalDataErased, payload
    from shared.events.envelope import decode_envelope

    names = settings.names
    subject, stream = names.event("intake", "PersonalDataErased"), names.events_stream("intake")
    nc = await nats.connect(settings.nats_url, connect_timeout=CATCH_UP_S, max_reconnect_attempts=1,
                            **settings.nats_options)  # fmt: skip
    try:
        js = nc.jetstream()
        try:
            last = (await js.get_last_msg(stream, subject)).seq or 0
        except nats.js.errors.NotFoundError:
            return set()
        found: set[str] = set()
        done = asyncio.Event()

        async def collect(msg: Msg) -> None:
            event = payload(decode_envelope(msg.data))
            if isinstance(event, PersonalDataErased):
                found.update(event.key_ids)
            if msg.metadata.sequence.stream >= last:
                done.set()

        sub = await js.subscribe(subject, stream=stream, cb=collect, ordered_consumer=True,
                                 deliver_policy=DeliverPolicy.ALL)  # fmt: skip
        await asyncio.wait_for(done.wait(), CATCH_UP_S)
        await sub.unsubscribe()
        return found
    finally:
        await nc.close()


def cmd_reapply(args: argparse.Namespace) -> int:
    """PII-ERASE after restoring a backup of the key table: destroy again every key an erasure
    recorded (in intake's store or on its event stream) that the restore brought back."""
    import datetime as dt

    from shared.runtime.settings import Settings
    from shared.security.keystore import PostgresKeyStore

    settings = Settings.from_env()
    try:
        key_ids = erased_in_store(settings) | asyncio.run(erased_in_stream(settings))
    except (TimeoutError, OSError) as exc:
        print(f"privacy reapply: could not read every erasure: {exc!r}", file=sys.stderr)
        return 1
    keys = PostgresKeyStore(settings.database_url, settings.names.db_schema("pii"), pool_size=1)
    keys.open()
    try:
        destroyed = keys.destroy(key_ids, dt.datetime.now(dt.UTC), args.by or getpass.getuser())
    finally:
        keys.close()
    print(f"{len(key_ids)} keys erased on record; {len(destroyed)} were back and are destroyed again")
    return 0


def cmd_privacy(args: argparse.Namespace) -> int:
    from shared.runtime.settings import Settings

    if args.privacy_command == "reapply":
        return cmd_reapply(args)
    settings = Settings.from_env()
    token = os.environ.get("AFTERSALES_TOKEN", "").strip()
    if not token:
        print("privacy erase: set AFTERSALES_TOKEN to your API token (role ops)", file=sys.stderr)
        return 2
    command = msgspec.to_builtins(
        ErasePersonalData(actor=Actor(id=args.by or "-", role="ops"), phone=args.phone, reason=args.reason)
    )
    if args.by is None:
        del command["actor"]  # the acting person is the token's
    try:
        return asyncio.run(_send(settings, command, token, args.timeout))
    except (TimeoutError, OSError) as exc:
        print(f"privacy erase: intake did not answer: {exc!r}", file=sys.stderr)
        return 1


def add_parser(sub: Any) -> None:
    privacy = sub.add_parser("privacy", help="customers' personal data (PIPL)")
    privacy_sub = privacy.add_subparsers(dest="privacy_command", required=True)
    erase = privacy_sub.add_parser("erase", help="erase a customer's personal data by destroying its keys (role ops)")
    erase.add_argument("--phone", required=True, help="the customer's phone number")
    erase.add_argument("--by", default=None, help="who carries out the request (default and must be: the token's)")
    erase.add_argument("--reason", required=True, help="e.g. the customer's deletion request of 2026-11-23")
    erase.add_argument("--timeout", type=float, default=10.0)
    erase.set_defaults(func=cmd_privacy)
    reapply = privacy_sub.add_parser(
        "reapply", help="after restoring the key table from a backup: destroy again every key erased on record"
    )
    reapply.add_argument("--by", default=None, help="who restores (default: the login name)")
    reapply.set_defaults(func=cmd_privacy)
