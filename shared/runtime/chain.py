"""What the relay checks before it publishes a batch: that each event continues the chain it
published last, and (with a checkpoint key) that a writer signed the chain up to it.

A forger with write access to the database but not to the key can append rows and recompute their
links, but cannot sign them: the relay publishes nothing past the last validly signed link, so a
forged append stays in the store, unpublished, where `aftersales audit verify` names it. A tail
rewritten below what was published no longer continues the published chain: the relay stops there
too (`ChainBroken`, retried with backoff and logged), rather than publish a second history.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.runtime.checkpoints import Verifier
from shared.runtime.store import GENESIS, ChainLink, chain_hash


class ChainBroken(RuntimeError):
    """The store's chain does not continue what was published, or is not signed: publish nothing more."""

    def __init__(self, position: int, reason: str) -> None:
        super().__init__(f"event #{position}: {reason}")
        self.position = position
        self.reason = reason


@dataclass(frozen=True)
class Vetted:
    count: int
    """How many events of the batch (a prefix) may be published."""
    hashes: list[bytes]
    """The chain hash of each of them."""


def vet_batch(
    store: str,
    events: Sequence[Any],
    links: Mapping[int, ChainLink],
    previous_id: int | None,
    previous_hash: bytes,
    verifier: Verifier | None,
    batch_full: bool,
) -> Vetted:
    """`events` are stored events with `.id` (their position), in order. Without a verifier every
    event that continues the chain may go; with one, only those up to the last validly signed link.
    An unsigned tail in a batch that is not full is no transaction still being written (a
    transaction's rows and its signed last link commit together): it is refused."""
    hashes: list[bytes] = []
    allowed = 0
    for i, event in enumerate(events):
        link = links.get(event.id)
        if link is None:
            raise ChainBroken(event.id, "has no chain link (inserted outside the store)")
        if link.previous_id != previous_id:
            raise ChainBroken(
                event.id, f"its link follows #{link.previous_id}, the published chain ends at #{previous_id}"
            )
        digest = chain_hash(previous_hash, event.id, event)
        if digest != link.hash:
            raise ChainBroken(event.id, "its bytes or its predecessors differ from the chain that was published")
        hashes.append(digest)
        if verifier is None:
            allowed = i + 1
        elif link.signature is not None and link.signed_at is not None:
            if not verifier.valid(store, event.id, digest, link.signed_at, link.signature):
                raise ChainBroken(event.id, "its checkpoint signature is invalid (signed with another key, or forged)")
            allowed = i + 1
        previous_id, previous_hash = event.id, digest
    if allowed < len(events) and not batch_full:
        raise ChainBroken(events[allowed].id, "no signed checkpoint covers it (appended without the key)")
    return Vetted(allowed, hashes[:allowed])


def starting_hash(position: int, published: bytes | None, links: Mapping[int, ChainLink]) -> bytes:
    """The chain hash the next event continues: the one the last published message carries, else
    (a stream from before chain hashes were published) the store's link at `position`."""
    if published is not None:
        return published
    if position == 0:
        return GENESIS
    link = links.get(position)
    if link is None:
        raise ChainBroken(position, "the last published event has no chain link in the store")
    return link.hash
