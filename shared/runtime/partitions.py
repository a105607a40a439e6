"""Partitions: several instances of a consuming service (dispatch, parts, reporting) share its work.

Every domain event belongs to one of `count` partitions, by its complaint: `partition_of(correlation
id)` (the complaint number; the roster and the calendar have fixed correlation ids of their own), a
crc32, the same in every process. Per upstream stream a service has one durable consumer per
partition (`dispatch-intake-p0`, `dispatch-intake-p1`, …); an instance owns a set of partitions
(`AFTERSALES_PARTITIONS=0-1`, default all) and acts only on the events of those. Each partition keeps
its own position (`tracking("intake")` = `intake#0/2`), written in the same transaction as the
handler's writes, so a partition is exactly once and in order exactly as a single consumer was: every
event of one complaint is in one partition, in stream order.

The partition consumers read the whole stream (NATS filters nothing: the subjects stay as they
were) and settle what is not theirs by reading its `Aftersales-Correlation-Id` header only, without
decoding it. That keeps `InOrderGate` (contiguous stream sequences) and the subjects unchanged, so
existing streams and stores keep working, at the cost of delivering each message once per partition.

Ownership is static: a killed instance's partitions wait until its supervisor (`aftersales up`,
systemd) restarts it; nothing of theirs is lost or done twice meanwhile. The instance that owns
partition 0 is the *leader*: it alone runs the service's relay and its timers (deadlines), which
work on the whole store; staff commands go to any instance (a NATS queue group).

`count` = 1 (the default) is the single consumer of before: the same durable names and the same
position rows. Going from 1 to n partitions carries the position over: a partition starts after
max(its own, the single consumer's) position. Changing n to another count > 1 is not supported
without draining: see the README.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass


def partition_of(key: str, count: int) -> int:
    """The partition of a complaint (its correlation id), stable across processes and restarts."""
    return zlib.crc32(key.encode("utf-8")) % count if count > 1 else 0


def parse_owned(spec: str, count: int) -> tuple[int, ...]:
    """`"0-1,3"` → (0, 1, 3); empty: every partition. Refuses anything outside 0 … count-1."""
    if not spec.strip():
        return tuple(range(count))
    owned: set[int] = set()
    for part in spec.split(","):
        first, _, last = part.strip().partition("-")
        if not first.isdigit() or not (last or first).isdigit():
            raise ValueError(f"partitions {part.strip()!r} not within 0-{count - 1}")
        low, high = int(first), int(last or first)
        if low > high or high >= count:
            raise ValueError(f"partitions {part.strip()!r} not within 0-{count - 1}")
        owned.update(range(low, high + 1))
    return tuple(sorted(owned))


def split_owned(count: int, instances: int) -> list[str]:
    """The partitions of each of `instances` instances, as `AFTERSALES_PARTITIONS` specs."""
    if not 1 <= instances <= count:
        raise ValueError(f"{instances} instances need 1 to {count} partitions")
    return [",".join(str(p) for p in range(i, count, instances)) for i in range(instances)]


@dataclass(frozen=True)
class Partition:
    """One partition of one consumer of one upstream stream."""

    index: int = 0
    count: int = 1

    def owns(self, key: str) -> bool:
        return partition_of(key, self.count) == self.index

    def durable(self, consumer: str, upstream: str) -> str:
        base = f"{consumer}-{upstream}"
        return base if self.count == 1 else f"{base}-p{self.index}"

    def tracking(self, upstream: str) -> str:
        """The name the position is recorded under (the upstream itself when not partitioned)."""
        return upstream if self.count == 1 else f"{upstream}#{self.index}/{self.count}"


@dataclass(frozen=True)
class Partitioning:
    """How many partitions there are, and which of them this instance owns."""

    count: int = 1
    owned: tuple[int, ...] = (0,)

    @classmethod
    def of(cls, count: int, spec: str = "") -> Partitioning:
        if count < 1:
            raise ValueError("AFTERSALES_PARTITION_COUNT must be at least 1")
        return cls(count, parse_owned(spec, count))

    @property
    def partitions(self) -> list[Partition]:
        return [Partition(index, self.count) for index in self.owned]

    @property
    def leader(self) -> bool:
        """Runs the relay and the timers (partition 0's owner: exactly one instance)."""
        return 0 in self.owned


def upstream_of(tracking: str) -> str:
    """`intake#0/2` → `intake`."""
    return tracking.partition("#")[0]
