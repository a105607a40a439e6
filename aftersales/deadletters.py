"""`aftersales deadletter list|show|replay`: the way back for a dead-lettered message.

- `list [--source S] [--json]`: every dead letter with its sequence, source, time and reason;
- `show SEQ [--json]`: one in full, with the original decoded (JSON when it is JSON);
- `replay SEQ [SEQ …]`: after a fix, publish the original bytes and headers again to the original
  subject. The replay is one more delivery: a complaint is registered once however often its call
  arrives (INT-DEDUP on `call_id`). `Nats-Msg-Id` is not copied, or the stream would drop a replay
  within its duplicate window as a repeat of the original; `Aftersales-Replay-Of` names the dead
  letter instead. A truncated dead letter (an original over the dead-letter limit) cannot be replayed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nats.js import JetStreamContext

    from shared.events.subjects import Names

HDR_REPLAY_OF = "Aftersales-Replay-Of"


@dataclass(frozen=True)
class DeadLetter:
    seq: int
    """Sequence on the dead-letter stream: what `show` and `replay` take."""
    record: dict[str, Any]

    @property
    def original(self) -> bytes:
        return base64.b64decode(self.record["original_b64"])

    @property
    def truncated(self) -> bool:
        return bool(self.record.get("original_truncated", False))

    def summary(self) -> dict[str, Any]:
        r = self.record
        return {"seq": self.seq, "source": r["source"], "dead_lettered_at": r.get("dead_lettered_at"),
                "reason": r["reason"], "subject": r["subject"], "stream_seq": r.get("stream_seq"),
                "original_size": r.get("original_size"), "original_truncated": self.truncated}  # fmt: skip

    def in_full(self) -> dict[str, Any]:
        """The record with the original decoded: a JSON document, else text, else base64."""
        document = {k: v for k, v in self.record.items() if k != "original_b64"}
        document["seq"] = self.seq
        raw = self.original
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            document["original_text"] = raw.decode("utf-8", errors="backslashreplace")
            document["original_b64"] = self.record["original_b64"]
            return document
        try:
            document["original"] = json.loads(text)
        except ValueError:
            document["original_text"] = text
        return document


class ReplayRefused(Exception):
    pass


async def dead_letters(js: JetStreamContext, names: Names, source: str | None = None) -> AsyncIterator[DeadLetter]:
    """Every dead letter (of one source, or all), oldest first."""
    from nats.js.errors import NotFoundError

    subject = names.deadletter(source) if source else names.deadletter_all
    seq = 1
    while True:
        try:
            msg = await js.get_msg(names.deadletter_stream, seq=seq, subject=subject, next=True)
        except NotFoundError:
            return
        if msg.seq is None or msg.data is None:
            return
        yield DeadLetter(msg.seq, json.loads(msg.data))
        seq = msg.seq + 1


async def dead_letter_at(js: JetStreamContext, names: Names, seq: int) -> DeadLetter:
    from nats.js.errors import NotFoundError

    try:
        msg = await js.get_msg(names.deadletter_stream, seq=seq)
    except NotFoundError:
        raise LookupError(f"no dead letter {seq} on {names.deadletter_stream}") from None
    if msg.data is None:
        raise LookupError(f"dead letter {seq} is empty")
    return DeadLetter(seq, json.loads(msg.data))


async def replay(js: JetStreamContext, names: Names, seq: int) -> tuple[DeadLetter, int]:
    """Publish dead letter `seq`'s original again; return it and the original stream's new sequence."""
    letter = await dead_letter_at(js, names, seq)
    if letter.truncated:
        raise ReplayRefused(
            f"dead letter {seq} keeps only part of its original ({letter.record.get('original_size')} bytes,"
            f" sha256 {letter.record.get('original_sha256')}); it cannot be replayed"
        )
    headers = {k: v for k, v in letter.record.get("headers", {}).items() if k != "Nats-Msg-Id"}
    headers[HDR_REPLAY_OF] = f"{names.deadletter_stream}:{seq}"
    ack = await js.publish(letter.record["subject"], letter.original, headers=headers)
    return letter, ack.seq


# --------------------------------------------------------------------------- command line


def add_parser(sub: Any) -> None:
    """`aftersales deadletter …` (wired in aftersales/cli.py)."""
    dl = sub.add_parser("deadletter", help="list, show and replay dead-lettered messages")
    dl_sub = dl.add_subparsers(dest="deadletter_command", required=True)
    ls = dl_sub.add_parser("list", help="every dead letter: seq, time, source, reason")
    ls.add_argument("--source", default=None, help="e.g. telephony, reporting, clock")
    ls.add_argument("--json", action="store_true")
    show = dl_sub.add_parser("show", help="one dead letter in full, with the original decoded")
    show.add_argument("seq", type=int)
    again = dl_sub.add_parser("replay", help="publish originals again to their subjects (after a fix)")
    again.add_argument("seq", type=int, nargs="+")
    for p in (ls, show, again):
        p.set_defaults(func=cmd_deadletter)


def cmd_deadletter(args: argparse.Namespace) -> int:
    from shared.runtime.settings import Settings

    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(encoding="utf-8")
    return asyncio.run(_run(args, Settings.from_env()))


async def _run(args: argparse.Namespace, settings: Any) -> int:
    import nats

    nc = await nats.connect(settings.nats_url, **settings.nats_options)
    js, names = nc.jetstream(), settings.names
    try:
        if args.deadletter_command == "list":
            return await _list(js, names, args.source, args.json)
        if args.deadletter_command == "show":
            try:
                letter = await dead_letter_at(js, names, args.seq)
            except LookupError as exc:
                print(exc, file=sys.stderr)
                return 2
            print(json.dumps(letter.in_full(), ensure_ascii=False, indent=2))
            return 0
        return await _replay(js, names, args.seq)
    finally:
        await nc.drain()


async def _list(js: JetStreamContext, names: Names, source: str | None, as_json: bool) -> int:
    rows = [letter.summary() async for letter in dead_letters(js, names, source)]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    print(f"{'seq':>8}  {'dead_lettered_at':<32}  {'source':<10}  reason")
    for row in rows:
        reason = row["reason"] if len(row["reason"]) <= 100 else row["reason"][:99] + "…"
        print(f"{row['seq']:>8}  {row['dead_lettered_at'] or '':<32}  {row['source']:<10}  {reason}")
    print(f"{len(rows)} dead letter(s)")
    return 0


async def _replay(js: JetStreamContext, names: Names, seqs: Sequence[int]) -> int:
    failed = 0
    for seq in seqs:
        try:
            letter, new_seq = await replay(js, names, seq)
        except (LookupError, ReplayRefused) as exc:
            print(f"{seq}: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(f"{seq}: replayed to {letter.record['subject']} (stream seq {new_seq})")
    return 1 if failed else 0
