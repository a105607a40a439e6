"""Pure parts of the signed chain: the checkpoint signature and what the relay lets through."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared.runtime.chain import ChainBroken, starting_hash, vet_batch
from shared.runtime.checkpoints import Checkpoint, Signer, create_key, load_signer, load_verifier, public_pem
from shared.runtime.store import GENESIS, ChainLink, chain_hash

STORE = "intake"
AT = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Row:
    id: int
    originator_id: uuid.UUID
    originator_version: int
    topic: str
    state: bytes


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    return load_signer(tmp_path / "key.pem", create=True)


def rows(n: int, start: int = 1) -> list[Row]:
    return [Row(start + i, uuid.uuid4(), 1, "x:Event", f'{{"n":{i}}}'.encode()) for i in range(n)]


def chained(
    events: list[Row], signer: Signer | None, signed_at: set[int], previous: bytes = GENESIS
) -> dict[int, ChainLink]:
    links: dict[int, ChainLink] = {}
    previous_id: int | None = None if events[0].id == 1 else events[0].id - 1
    for event in events:
        digest = chain_hash(previous, event.id, event)
        signature = signer.sign(STORE, event.id, digest, AT) if signer and event.id in signed_at else None
        links[event.id] = ChainLink(event.id, previous_id, digest, AT if signature else None, signature)
        previous_id, previous = event.id, digest
    return links


def test_the_key_file_is_private_and_a_second_create_keeps_it(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "checkpoint.pem"
    create_key(path)
    first = path.read_bytes()
    create_key(path)
    assert path.read_bytes() == first
    assert path.stat().st_mode & 0o777 == 0o600
    public = tmp_path / "public.pem"
    verifier = load_signer(path).verifier
    public.write_text(public_pem(verifier))
    loaded = load_verifier(str(public), None)
    assert loaded is not None
    assert loaded.key_id == verifier.key_id


def test_a_checkpoint_is_valid_only_for_what_was_signed(signer: Signer, tmp_path: Path) -> None:
    head = b"\x01" * 32
    signature = signer.sign(STORE, 7, head, AT).hex()
    good = Checkpoint(STORE, 7, head.hex(), AT, signature, signer.verifier.key_id)
    assert good.valid(signer.verifier)
    for changed in (
        Checkpoint(STORE, 8, head.hex(), AT, signature, "k"),
        Checkpoint("parts", 7, head.hex(), AT, signature, "k"),
        Checkpoint(STORE, 7, (b"\x02" * 32).hex(), AT, signature, "k"),
        Checkpoint(STORE, 7, head.hex(), AT + dt.timedelta(seconds=1), signature, "k"),
        Checkpoint(STORE, 7, head.hex(), AT, "zz", "k"),
    ):
        assert not changed.valid(signer.verifier)
    other = load_signer(tmp_path / "other.pem", create=True)
    assert not good.valid(other.verifier)


def test_the_relay_publishes_up_to_the_last_signed_link(signer: Signer) -> None:
    events = rows(5)
    links = chained(events, signer, signed_at={3})
    vetted = vet_batch(STORE, events, links, None, GENESIS, signer.verifier, batch_full=True)
    assert vetted.count == 3
    assert vetted.hashes == [links[i].hash for i in (1, 2, 3)]
    assert vet_batch(STORE, events, links, None, GENESIS, None, batch_full=False).count == 5


def test_an_unsigned_tail_in_a_batch_that_is_not_full_is_refused(signer: Signer) -> None:
    events = rows(5)
    links = chained(events, signer, signed_at={3})
    with pytest.raises(ChainBroken) as raised:
        vet_batch(STORE, events, links, None, GENESIS, signer.verifier, batch_full=False)
    assert raised.value.position == 4
    assert "no signed checkpoint" in raised.value.reason


def test_a_link_signed_with_another_key_is_refused(signer: Signer, tmp_path: Path) -> None:
    events = rows(2)
    forger = load_signer(tmp_path / "forger.pem", create=True)
    links = chained(events, forger, signed_at={2})
    with pytest.raises(ChainBroken, match="signature is invalid"):
        vet_batch(STORE, events, links, None, GENESIS, signer.verifier, batch_full=False)


def test_a_chain_that_does_not_continue_what_was_published_is_refused(signer: Signer) -> None:
    published = rows(3)
    links = chained(published, signer, signed_at={3})
    # The forger drops #3 and chains a new #4 after #2 (links recomputed, even signed with our key).
    replacement = rows(1, start=4)
    forged = chained(replacement, signer, signed_at={4}, previous=links[2].hash)
    forged[4] = ChainLink(4, 2, forged[4].hash, forged[4].signed_at, forged[4].signature)
    with pytest.raises(ChainBroken, match="published chain ends at #3"):
        vet_batch(STORE, replacement, forged, 3, links[3].hash, signer.verifier, batch_full=False)
    # Same predecessor id but other history: the hash does not continue.
    rewritten = chained(replacement, signer, signed_at={4}, previous=b"\x09" * 32)
    with pytest.raises(ChainBroken, match="differ from the chain that was published"):
        vet_batch(STORE, replacement, rewritten, 3, links[3].hash, signer.verifier, batch_full=False)


def test_the_starting_hash_comes_from_the_stream_else_the_store() -> None:
    link = ChainLink(5, 4, b"\x05" * 32)
    assert starting_hash(0, None, {}) == GENESIS
    assert starting_hash(5, b"\x07" * 32, {5: link}) == b"\x07" * 32
    assert starting_hash(5, None, {5: link}) == link.hash
    with pytest.raises(ChainBroken):
        starting_hash(5, None, {})
