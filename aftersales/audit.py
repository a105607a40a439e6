"""Tamper evidence (`aftersales audit verify`), in three independent checks per service store.

1. The hash chain in the database (shared/runtime/store.py writes it in the same transaction as the
   events): the first changed, deleted, reordered or unlinked event is named. With the public
   checkpoint key, every signed link must carry a valid Ed25519 signature and no event may come
   after the last signed link (a forged append whose link was recomputed has no signature).
2. The signed checkpoints on JetStream (a stream that refuses deletes and purges): each must be
   validly signed and the chain must still pass through its (position, hash).
3. The relay's copy of the store on JetStream: every published event (position, event id, chain
   hash) must be in the store as published, and every stored event up to the last published one
   must be on the stream. Newer events are "not yet relayed".

Hashes are over stored bytes, so nothing here decrypts personal data: crypto-shredding a
customer's key changes no stored byte and breaks no check.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import nats
import psycopg
from eventsourcing.persistence import StoredEvent
from psycopg.rows import dict_row
from psycopg.sql import SQL, Composed, Identifier

from aftersales.audit_streams import Published, StoredCheckpoint, published_events, stored_checkpoints
from shared.events.envelope import event_id_for
from shared.runtime.checkpoints import Verifier, verifier_for
from shared.runtime.settings import Settings
from shared.runtime.store import GENESIS, chain_hash

STORE_TABLES = {"intake": "intake_events", "dispatch": "dispatch_events", "parts": "parts_events"}
MAX_LISTED = 10
"""Problems named per check; the rest are counted."""


@dataclass
class Verdict:
    service: str
    events: int
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def problem(self) -> str | None:
        return self.problems[0] if self.problems else None

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class StoreChain:
    """What the database holds: per position, the event id and the link's hash (as stored)."""

    schema: str
    verdict: Verdict
    links: dict[int, tuple[str, bytes]] = field(default_factory=dict)


def _listed(problems: list[str], what: str) -> list[str]:
    if len(problems) <= MAX_LISTED:
        return problems
    return [*problems[:MAX_LISTED], f"… and {len(problems) - MAX_LISTED} more {what}"]


def walk_store(settings: Settings, service: str, verifier: Verifier | None, batch: int = 10_000) -> StoreChain:
    """Check 1: the chain in the database, and with `verifier` its signed links."""
    schema = settings.names.db_schema(service)
    chain = StoreChain(schema, Verdict(service, 0))
    verdict = chain.verdict
    previous_id: int | None = None
    previous_hash = GENESIS
    broken = False
    signed: list[int] = []
    bad_signatures: list[str] = []
    with psycopg.connect(settings.database_url, row_factory=dict_row) as conn:
        exists = conn.execute("SELECT to_regclass(%s) AS t", (f'"{schema}"."audit_chain"',)).fetchone()
        if exists is None or exists["t"] is None:
            return chain
        query = _walk_query(conn, schema, service)
        last = 0
        while True:
            rows = conn.execute(query, (last, batch)).fetchall()
            for r in rows:
                position = r["id"]
                if r["event_id"] is not None and r["link_id"] is not None:
                    event_id = str(event_id_for(r["originator_id"], r["originator_version"]))
                    chain.links[position] = (event_id, bytes(r["hash"]))
                if r["signature"] is not None and r["link_id"] is not None:
                    signed.append(position)
                    if verifier is not None and not verifier.valid(
                        schema, position, bytes(r["hash"]), r["signed_at"], bytes(r["signature"])
                    ):
                        bad_signatures.append(
                            f"event #{position}: the checkpoint signed on its link is not valid"
                            " (the chain was rewritten up to here without the key)"
                        )
                if broken:
                    continue
                problem = _link_problem(r, position, previous_id)
                if problem is None:
                    event = StoredEvent(r["originator_id"], r["originator_version"], r["topic"], bytes(r["state"]))
                    digest = chain_hash(previous_hash, position, event)
                    if digest != bytes(r["hash"]):
                        problem = (
                            f"event #{position} ({r['topic'].rsplit('.', 1)[-1]} of {r['originator_id']}"
                            f" v{r['originator_version']}) was changed: its bytes do not match the chain"
                        )
                    previous_id, previous_hash = position, digest
                if problem is not None:
                    verdict.problems.append(problem)
                    broken = True
                else:
                    verdict.events += 1
            if len(rows) < batch:
                break
            last = rows[-1]["id"]
    verdict.problems += _listed(bad_signatures, "bad signatures")
    _check_unsigned_tail(chain, signed, verifier)
    return chain


def _walk_query(conn: psycopg.Connection[dict[str, Any]], schema: str, service: str) -> Composed:
    """Events and links joined by position; a store from before signed links reads NULL signatures."""
    signed = conn.execute(
        "SELECT 1 FROM information_schema.columns WHERE table_schema = %s AND table_name = 'audit_chain'"
        " AND column_name = 'signature'",
        (schema,),
    ).fetchone()
    signature = SQL(
        "c.signed_at, c.signature" if signed else "NULL::timestamptz AS signed_at, NULL::bytea AS signature"
    )
    return SQL(
        "SELECT coalesce(e.notification_id, c.notification_id) AS id, e.notification_id AS event_id,"
        " e.originator_id, e.originator_version, e.topic, e.state, c.notification_id AS link_id,"
        " c.previous_id, c.hash, {2} FROM {0}.{1} e FULL OUTER JOIN {0}.audit_chain c USING (notification_id)"
        " WHERE coalesce(e.notification_id, c.notification_id) > %s ORDER BY 1 LIMIT %s"
    ).format(Identifier(schema), Identifier(STORE_TABLES[service]), signature)


def _link_problem(r: dict[str, object], position: int, previous_id: int | None) -> str | None:
    if r["event_id"] is None:
        return f"event #{position} was deleted (its chain link remains)"
    if r["link_id"] is None:
        return f"event #{position} has no chain link (inserted outside the store)"
    if r["previous_id"] != previous_id:
        return (
            f"event #{position}: chain says the previous event is #{r['previous_id']},"
            f" the store has #{previous_id} (an event before it was deleted or reordered)"
        )
    return None


def _check_unsigned_tail(chain: StoreChain, signed: list[int], verifier: Verifier | None) -> None:
    verdict = chain.verdict
    if verifier is None:
        verdict.notes.append("signatures not checked: no checkpoint key (AFTERSALES_CHECKPOINT_PUBLIC_KEY)")
        return
    if not chain.links:
        return
    if not signed:
        verdict.notes.append("no signed link in this store (written without a checkpoint key)")
        return
    tail = sorted(p for p in chain.links if p > signed[-1])
    if tail:
        first, last = tail[0], tail[-1]
        span = f"#{first}" if first == last else f"#{first}–#{last}"
        verdict.problems.append(
            f"event {span} ({chain.links[first][0]}{'' if first == last else ', …'}): no signed checkpoint"
            " covers it (appended without the key, its link recomputed)"
        )


def check_checkpoints(chain: StoreChain, checkpoints: list[StoredCheckpoint], verifier: Verifier | None) -> None:
    """Check 2: every checkpoint on the stream is signed and the chain still passes through it."""
    problems: list[str] = []
    checked = 0
    for stored in checkpoints:
        cp = stored.checkpoint
        if cp is None:
            problems.append(f"checkpoint message {stored.sequence} is not a checkpoint")
            continue
        where = f"checkpoint at #{cp.position} (stream sequence {stored.sequence}, signed {cp.signed_at.isoformat()})"
        if cp.store != chain.schema:
            problems.append(f"{where} names the store {cp.store!r}, not {chain.schema!r}")
            continue
        if verifier is not None and not cp.valid(verifier):
            problems.append(f"{where} has a bad signature (key {cp.key_id}; ours is {verifier.key_id})")
            continue
        link = chain.links.get(cp.position)
        if link is None:
            problems.append(f"{where}: event #{cp.position} is no longer in the store (deleted below a checkpoint)")
        elif link[1].hex() != cp.head:
            problems.append(
                f"{where}: the store's chain no longer passes through it (history up to #{cp.position} rewritten)"
            )
        else:
            checked += 1
    chain.verdict.problems += _listed(problems, "checkpoint problems")
    if checkpoints:
        chain.verdict.notes.append(f"{checked} of {len(checkpoints)} signed checkpoints hold")


def cross_check(chain: StoreChain, published: list[Published]) -> None:
    """Check 3: the store against the relay's copy on its JetStream stream."""
    problems: list[str] = []
    on_stream: set[int] = set()
    for message in published:
        on_stream.add(message.position)
        link = chain.links.get(message.position)
        if link is None:
            problems.append(
                f"event #{message.position} ({message.event_id}) is on the stream but not in the store (deleted)"
            )
        elif link[0] != message.event_id:
            problems.append(
                f"event #{message.position}: the store holds {link[0]}, the stream {message.event_id} (replaced)"
            )
        elif message.chain is not None and message.chain != link[1]:
            problems.append(
                f"event #{message.position} ({message.event_id}): the store's chain differs from what was published"
                " (this event or one before it was rewritten)"
            )
    last_published = max(on_stream, default=0)
    for position in sorted(p for p in chain.links if p <= last_published and p not in on_stream):
        problems.append(
            f"event #{position} ({chain.links[position][0]}) is in the store but was never published (inserted)"
        )
    chain.verdict.problems += _listed(problems, "differences from the stream")
    unrelayed = sorted(p for p in chain.links if p > last_published)
    if unrelayed:
        chain.verdict.notes.append(f"{len(unrelayed)} newest events not yet relayed (#{unrelayed[0]}–#{unrelayed[-1]})")


async def _streams(settings: Settings, chains: list[StoreChain], verifier: Verifier | None) -> None:
    names = settings.names
    try:
        nc = await nats.connect(settings.nats_url, connect_timeout=5, max_reconnect_attempts=1, **settings.nats_options)
    except Exception as exc:  # any failure to connect is reported, not raised
        for chain in chains:
            chain.verdict.problems.append(f"JetStream not checked: cannot connect to {settings.nats_url} ({exc!r})")
        return
    try:
        js = nc.jetstream()
        for chain in chains:
            service = chain.verdict.service
            checkpoints = await stored_checkpoints(js, names.checkpoints_stream, names.checkpoints(service))
            check_checkpoints(chain, checkpoints, verifier)
            published = await published_events(js, names.events_stream(service), names.events_of(service))
            cross_check(chain, published)
    finally:
        await nc.close()


def verify_store(settings: Settings, service: str, batch: int = 10_000) -> Verdict:
    """The database chain of one store only (check 1, without signatures)."""
    return walk_store(settings, service, None, batch).verdict


def verify_all(settings: Settings) -> list[Verdict]:
    verifier = verifier_for(settings)
    chains = [walk_store(settings, service, verifier) for service in STORE_TABLES]
    asyncio.run(_streams(settings, chains, verifier))
    return [chain.verdict for chain in chains]
