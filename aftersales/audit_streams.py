"""What `audit verify` reads from JetStream: the relay's copy of each store (one message per event,
with its position, event id, chain hash and, on signed links, the writer's signature) and the
signed checkpoints. Headers only: the check never needs, or decrypts, an event's body."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from shared.events.envelope import HDR_MSG_ID, HDR_POSITION
from shared.runtime.checkpoints import HDR_CHAIN, Checkpoint, decode_checkpoint

READ_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Published:
    sequence: int
    position: int
    event_id: str
    chain: bytes | None
    """None on messages published before the relay put chain hashes on them."""


@dataclass(frozen=True)
class StoredCheckpoint:
    sequence: int
    checkpoint: Checkpoint | None
    """None: the message is not a checkpoint (undecodable)."""


async def _read(
    js: JetStreamContext, stream: str, subject: str, headers_only: bool
) -> list[tuple[int, dict[str, str], bytes]]:
    """(stream sequence, headers, body) of every message on `subject`, oldest first."""
    try:
        info = await js.stream_info(stream, subjects_filter=subject)
    except NotFoundError:
        return []
    expected = sum((info.state.subjects or {}).values())
    if not expected:
        return []
    config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL, headers_only=headers_only)
    sub = await js.subscribe(subject, stream=stream, ordered_consumer=True, config=config)
    found: list[tuple[int, dict[str, str], bytes]] = []
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=READ_TIMEOUT_S)
            except TimeoutError:
                raise TimeoutError(f"{stream} delivered {len(found)} of {expected} messages on {subject}") from None
            meta = msg.metadata
            found.append((meta.sequence.stream, dict(msg.headers or {}), msg.data))
            if meta.num_pending == 0 and len(found) >= expected:
                return found
    finally:
        await sub.unsubscribe()


async def published_events(js: JetStreamContext, stream: str, subject: str) -> list[Published]:
    """The relay's messages on a service's stream (foreign messages, without a position, are left out)."""
    found = []
    for sequence, headers, _ in await _read(js, stream, subject, headers_only=True):
        if HDR_POSITION not in headers or HDR_MSG_ID not in headers:
            continue
        chain = bytes.fromhex(headers[HDR_CHAIN]) if HDR_CHAIN in headers else None
        found.append(Published(sequence, int(headers[HDR_POSITION]), headers[HDR_MSG_ID], chain))
    return found


async def stored_checkpoints(js: JetStreamContext, stream: str, subject: str) -> list[StoredCheckpoint]:
    found = []
    for sequence, _, body in await _read(js, stream, subject, headers_only=False):
        try:
            found.append(StoredCheckpoint(sequence, decode_checkpoint(body)))
        except (msgspec.DecodeError, ValueError):
            found.append(StoredCheckpoint(sequence, None))
    return found
