"""History that cannot be rewritten quietly: a forger with write access to PostgreSQL who recomputes
the hash chain is named by `audit verify`, through the signed checkpoints (Ed25519, key outside the
database) and the cross-check against intake's JetStream stream. Real NATS JetStream and PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import msgspec
import psycopg
import pytest
from eventsourcing.persistence import StoredEvent

from aftersales.audit import Verdict, verify_all
from services.intake.main import build as build_intake
from shared.runtime.checkpoints import Checkpoint, create_key, encode_checkpoint, load_signer
from shared.runtime.service import ServiceRuntime
from shared.runtime.settings import Settings
from shared.runtime.store import chain_hash
from tests.support import Bus, call, service_env, wait_until

pytestmark = pytest.mark.integration

CALLS = 6


@dataclass
class Keyed:
    settings: Settings
    intake: ServiceRuntime
    bus: Bus

    @property
    def schema(self) -> str:
        return self.settings.names.db_schema("intake")

    async def verify(self) -> Verdict:
        verdicts = await asyncio.to_thread(verify_all, self.settings)
        return next(v for v in verdicts if v.service == "intake")

    async def cli_verify(self) -> subprocess.CompletedProcess[str]:
        env = service_env(self.settings, AFTERSALES_CHECKPOINT_KEY=str(self.settings.checkpoint_key))
        return await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "aftersales.cli", "audit", "verify"],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    def head(self) -> tuple[int, bytes, uuid.UUID]:
        with psycopg.connect(self.settings.database_url) as conn:
            row = conn.execute(
                f'SELECT c.notification_id, c.hash, e.originator_id FROM "{self.schema}".audit_chain c'
                f' JOIN "{self.schema}".intake_events e USING (notification_id) ORDER BY 1 DESC LIMIT 1'
            ).fetchone()
        assert row is not None
        return row[0], bytes(row[1]), row[2]

    async def published_up_to(self, position: int) -> None:
        relay = self.intake.relay
        assert relay is not None

        async def done() -> bool:
            return relay.position >= position and relay.checkpointed_position >= position

        await wait_until(done, timeout_s=30, what=f"intake's relay and a checkpoint at #{position}")


@pytest.fixture
async def keyed(settings: Settings, tmp_path: Path) -> AsyncIterator[Keyed]:
    key = tmp_path / "keys" / "checkpoint-ed25519.pem"
    create_key(key)
    assert key.stat().st_mode & 0o777 == 0o600
    settings = dataclasses.replace(settings, checkpoint_key=str(key), checkpoint_interval_s=0.0)
    intake = build_intake(settings)
    await intake.start()
    bus = await Bus.connect(settings)
    try:
        for n in range(CALLS):
            await bus.publish_call(call(f"CALL-chain-{n}", customer={"name": "王五", "phone": f"1380000{n:04d}"}))
        system = Keyed(settings, intake, bus)

        async def all_recorded() -> bool:
            return await bus.stream_count(settings.names.events_stream("intake")) >= CALLS

        await wait_until(all_recorded, timeout_s=30, what=f"{CALLS} events on intake's stream")
        position, _, _ = system.head()
        await system.published_up_to(position)
        yield system
    finally:
        await bus.close()
        await intake.stop()


async def test_a_clean_system_verifies_and_a_checkpoint_with_a_bad_signature_is_named(keyed: Keyed) -> None:
    clean = await keyed.verify()
    assert clean.ok, clean.problems
    assert clean.events >= CALLS
    assert any("signed checkpoints hold" in note for note in clean.notes), clean.notes
    assert (await keyed.cli_verify()).returncode == 0

    # A checkpoint signed with another key, and one whose signature was altered, on the checkpoint stream.
    position, head, _ = keyed.head()
    at = dt.datetime.now(dt.UTC)
    other = load_signer(Path(str(keyed.settings.checkpoint_key)).with_name("other.pem"), create=True)
    forged = Checkpoint(keyed.schema, position, head.hex(), at, other.sign(keyed.schema, position, head, at).hex(), "x")
    names = keyed.settings.names
    await keyed.bus.js.publish(names.checkpoints("intake"), encode_checkpoint(forged))
    ours = load_signer(str(keyed.settings.checkpoint_key)).sign(keyed.schema, position, head, at)
    altered = msgspec.structs.replace(forged, signature=bytes([ours[0] ^ 1, *ours[1:]]).hex())
    await keyed.bus.js.publish(names.checkpoints("intake"), encode_checkpoint(altered))

    broken = await keyed.verify()
    bad = [p for p in broken.problems if "bad signature" in p]
    assert len(bad) == 2, broken.problems
    assert all(f"checkpoint at #{position}" in p for p in bad)
    result = await keyed.cli_verify()
    assert result.returncode == 1
    assert "bad signature" in result.stdout

    # The checkpoint stream refuses to forget: no delete, no purge.
    with pytest.raises(Exception, match=r"(?i)delete|purge|not allowed|denied"):
        await keyed.bus.js.purge_stream(names.checkpoints_stream)


async def test_a_rewritten_tail_is_named_even_with_the_chain_recomputed(keyed: Keyed) -> None:
    position, _, _ = keyed.head()
    # The forger deletes the newest intake event together with its link: what is left is a valid chain.
    with psycopg.connect(keyed.settings.database_url, autocommit=True) as conn:
        conn.execute(f'DELETE FROM "{keyed.schema}".audit_chain WHERE notification_id = %s', (position,))
        conn.execute(f'DELETE FROM "{keyed.schema}".intake_events WHERE notification_id = %s', (position,))
    verdict = await keyed.verify()
    assert not verdict.ok
    text = "\n".join(verdict.problems)
    assert f"event #{position} " in text
    assert "on the stream but not in the store (deleted)" in text
    assert f"checkpoint at #{position}" in text
    assert "deleted below a checkpoint" in text
    result = await keyed.cli_verify()
    assert result.returncode == 1
    assert f"event #{position} " in result.stdout


async def test_a_forged_append_with_a_recomputed_link_is_named_and_never_published(keyed: Keyed) -> None:
    position, head, aggregate = keyed.head()
    stream = keyed.settings.names.events_stream("intake")
    published = await keyed.bus.stream_count(stream)
    with psycopg.connect(keyed.settings.database_url, autocommit=True) as conn:
        row = conn.execute(
            f'SELECT topic, state FROM "{keyed.schema}".intake_events WHERE originator_id = %s'
            " AND originator_version = 1",
            (aggregate,),
        ).fetchone()
        assert row is not None
        topic, state = row[0], bytes(row[1])
        # A copy of the complaint with another phone number (if the number is stored in clear).
        forged_state = state.replace(b"13800000005", b"13999999999")
        forged_id = uuid.uuid4()
        inserted = conn.execute(
            f'INSERT INTO "{keyed.schema}".intake_events (originator_id, originator_version, topic, state)'
            " VALUES (%s, 1, %s, %s) RETURNING notification_id",
            (forged_id, topic, forged_state),
        ).fetchone()
        assert inserted is not None
        forged_position = inserted[0]
        link = chain_hash(head, forged_position, StoredEvent(forged_id, 1, topic, forged_state))
        conn.execute(
            f'INSERT INTO "{keyed.schema}".audit_chain (notification_id, previous_id, hash) VALUES (%s, %s, %s)',
            (forged_position, position, link),
        )
    # The chain in the database alone is consistent again; the relay refuses to publish the forgery.
    relay = keyed.intake.relay
    assert relay is not None
    await asyncio.sleep(2.0)
    assert await keyed.bus.stream_count(stream) == published
    assert relay.position == position

    verdict = await keyed.verify()
    assert not verdict.ok
    assert any(f"event #{forged_position} " in p and "no signed checkpoint covers it" in p for p in verdict.problems), (
        verdict.problems
    )
    result = await keyed.cli_verify()
    assert result.returncode == 1
    assert f"event #{forged_position} " in result.stdout

    # Once the forged rows are removed the relay carries on by itself, and the system verifies again.
    with psycopg.connect(keyed.settings.database_url, autocommit=True) as conn:
        conn.execute(f'DELETE FROM "{keyed.schema}".audit_chain WHERE notification_id = %s', (forged_position,))
        conn.execute(f'DELETE FROM "{keyed.schema}".intake_events WHERE notification_id = %s', (forged_position,))
    await keyed.bus.publish_call(call("CALL-chain-after-forgery"))

    async def published_again() -> bool:
        return await keyed.bus.stream_count(stream) > published

    await wait_until(published_again, timeout_s=30, what="intake's relay publishing again")
    await keyed.published_up_to(keyed.head()[0])
    again = await keyed.verify()
    assert again.ok, again.problems


async def test_an_edit_below_a_checkpoint_with_every_later_link_recomputed_is_named(keyed: Keyed) -> None:
    schema = keyed.schema
    with psycopg.connect(keyed.settings.database_url, autocommit=True) as conn:
        rows = conn.execute(
            f"SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, e.state, c.previous_id"
            f' FROM "{schema}".intake_events e JOIN "{schema}".audit_chain c USING (notification_id) ORDER BY 1'
        ).fetchall()
        edited = rows[1][0]
        head = conn.execute(f'SELECT hash FROM "{schema}".audit_chain WHERE notification_id = %s', (rows[0][0],))
        first_link = head.fetchone()
        assert first_link is not None
        previous = bytes(first_link[0])
        # The forger changes the second event's bytes and recomputes every link after it.
        for position, originator_id, version, topic, state, _ in rows[1:]:
            state = bytes(state)
            if position == edited:
                state = state.replace(b"1380000", b"1399999") + b" "
                conn.execute(f'UPDATE "{schema}".intake_events SET state = %s WHERE notification_id = %s',
                             (state, position))  # fmt: skip
            previous = chain_hash(previous, position, StoredEvent(originator_id, version, topic, state))
            conn.execute(
                f'UPDATE "{schema}".audit_chain SET hash = %s WHERE notification_id = %s', (previous, position)
            )
    verdict = await keyed.verify()
    assert not verdict.ok
    text = "\n".join(verdict.problems)
    assert "the checkpoint signed on its link is not valid" in text
    assert f"event #{edited} " in text
    assert "differs from what was published" in text
    assert "the store's chain no longer passes through it" in text
