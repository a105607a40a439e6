"""In-order delivery for consumers that track a position (projections, upstream events).

Such a consumer skips everything at or below its last applied position, which is only safe if
messages arrive in stream order. JetStream does not promise that after a crash: the dead
consumer's unacknowledged batch is redelivered only after `ack_wait`, while newer messages keep
flowing to the new process. This gate restores the order. It starts from the consumer's ack floor
(which JetStream persists), passes on only the next contiguous stream sequences, and leaves
anything beyond a gap unacknowledged (nak with a short delay) until the gap is filled.

Assumes one process per durable consumer, and a stream whose messages all match the consumer's
filter (true for the per-service event streams: only that service's relay publishes to them). With
several instances each partition has a durable of its own that reads the whole stream
(`shared/runtime/partitions.py`), so both still hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nats.aio.msg import Msg
from nats.js import JetStreamContext

GAP_RETRY_DELAY_S = 0.5


@dataclass
class Split:
    ready: list[Msg] = field(default_factory=list)  # the next contiguous messages, in order
    seen: list[Msg] = field(default_factory=list)  # already handled by this process: ack again
    early: list[Msg] = field(default_factory=list)  # beyond a gap: nak, they come back


class InOrderGate:
    def __init__(self, js: JetStreamContext, stream: str, durable: str) -> None:
        self.js = js
        self.stream = stream
        self.durable = durable
        self.expected: int | None = None

    async def _start(self) -> int:
        consumer = await self.js.consumer_info(self.stream, self.durable)
        stream = await self.js.stream_info(self.stream)
        return int(max(consumer.ack_floor.stream_seq + 1, stream.state.first_seq))

    async def split(self, messages: list[Msg]) -> Split:
        if self.expected is None:
            self.expected = await self._start()
        split = Split()
        expected = self.expected
        for msg in sorted(messages, key=lambda m: m.metadata.sequence.stream):
            seq = msg.metadata.sequence.stream
            if seq < expected:
                split.seen.append(msg)
            elif seq == expected and not split.early:
                split.ready.append(msg)
                expected += 1
            else:
                split.early.append(msg)
        return split

    def advance(self, handled: list[Msg]) -> None:
        """After the handler committed `handled` (the `ready` part of a split)."""
        if handled:
            self.expected = handled[-1].metadata.sequence.stream + 1

    async def settle(self, split: Split) -> None:
        """Ack what was handled or seen; nak what came early."""
        for msg in split.ready + split.seen:
            await msg.ack()
        for msg in split.early:
            await msg.nak(delay=GAP_RETRY_DELAY_S)
