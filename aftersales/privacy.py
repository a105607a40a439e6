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
import sys
from typing import Any

import msgspec

from shared.events.commands import Actor, ErasePersonalData, decode_reply


async def _send(nats_url: str, subject: str, command: ErasePersonalData, timeout_s: float) -> int:
    import nats

    nc = await nats.connect(nats_url, connect_timeout=timeout_s, max_reconnect_attempts=1)
    try:
        msg = await nc.request(subject, msgspec.json.encode(command), timeout=timeout_s)
    finally:
        await nc.close()
    reply = decode_reply(msg.data)
    if not reply.ok:
        print(f"privacy erase: refused ({reply.status}): {reply.error}", file=sys.stderr)
        return 1
    print("erased: the customer's keys are destroyed; recorded " + ", ".join(reply.events))
    return 0


def cmd_privacy(args: argparse.Namespace) -> int:
    from shared.runtime.settings import Settings

    settings = Settings.from_env()
    command = ErasePersonalData(
        actor=Actor(id=args.by or getpass.getuser(), role="ops"), phone=args.phone, reason=args.reason
    )
    try:
        return asyncio.run(_send(settings.nats_url, settings.names.commands("privacy"), command, args.timeout))
    except (TimeoutError, OSError) as exc:
        print(f"privacy erase: intake did not answer: {exc!r}", file=sys.stderr)
        return 1


def add_parser(sub: Any) -> None:
    privacy = sub.add_parser("privacy", help="customers' personal data (PIPL)")
    privacy_sub = privacy.add_subparsers(dest="privacy_command", required=True)
    erase = privacy_sub.add_parser("erase", help="erase a customer's personal data by destroying its keys (role ops)")
    erase.add_argument("--phone", required=True, help="the customer's phone number")
    erase.add_argument("--by", default=None, help="who carries out the request (default: the login name)")
    erase.add_argument("--reason", required=True, help="e.g. the customer's deletion request of 2026-11-23")
    erase.add_argument("--timeout", type=float, default=10.0)
    erase.set_defaults(func=cmd_privacy)
