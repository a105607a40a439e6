"""Partitions by complaint (shared/runtime/partitions.py) and the instances `aftersales up` runs."""

from __future__ import annotations

import pytest

from aftersales.processes import PROCESSES, user_of, with_instances
from shared.runtime.partitions import Partition, Partitioning, parse_owned, partition_of, split_owned, upstream_of
from shared.runtime.settings import Settings


def test_a_complaint_is_always_in_the_same_partition_and_partitions_are_used_evenly() -> None:
    keys = [f"TS-2026-{n:08d}" for n in range(1, 4001)]
    assert [partition_of(k, 4) for k in keys] == [partition_of(k, 4) for k in keys]
    assert partition_of("TS-2026-00000001", 4) == 0  # crc32: the same in every process and release
    counts = [sum(1 for k in keys if partition_of(k, 4) == p) for p in range(4)]
    assert min(counts) > 900, counts
    assert {partition_of(k, 1) for k in keys} == {0}


def test_every_key_is_owned_by_exactly_one_partition() -> None:
    partitions = Partitioning.of(3).partitions
    for key in ("TS-2026-00000007", "roster", "calendar:2027", ""):
        assert sum(p.owns(key) for p in partitions) == 1


def test_owned_partitions_are_parsed_and_checked() -> None:
    assert parse_owned("", 4) == (0, 1, 2, 3)
    assert parse_owned("0-1,3", 4) == (0, 1, 3)
    assert parse_owned("2", 4) == (2,)
    for bad in ("4", "1-0", "-1", "0-4"):
        with pytest.raises(ValueError, match="not within 0-3"):
            parse_owned(bad, 4)
    assert split_owned(4, 2) == ["0,2", "1,3"]
    assert split_owned(3, 3) == ["0", "1", "2"]
    with pytest.raises(ValueError, match="need 1 to 2 partitions"):
        split_owned(2, 3)


def test_one_partition_keeps_the_names_of_the_single_consumer() -> None:
    single = Partition()
    assert single.durable("dispatch", "intake") == "dispatch-intake"
    assert single.tracking("intake") == "intake"
    second = Partition(1, 2)
    assert second.durable("dispatch", "intake") == "dispatch-intake-p1"
    assert second.tracking("intake") == "intake#1/2"
    assert upstream_of(second.tracking("intake")) == "intake"


def test_the_leader_owns_partition_zero() -> None:
    assert Partitioning.of(1).leader
    assert Partitioning.of(2, "0").leader
    assert not Partitioning.of(2, "1").leader
    settings = Settings.from_env({"NATS_URL": "nats://x", "DATABASE_URL": "postgresql://x",
                                  "AFTERSALES_PARTITION_COUNT": "4", "AFTERSALES_PARTITIONS": "1-2"})  # fmt: skip
    assert settings.partitioning == Partitioning(4, (1, 2))
    assert Settings("nats://x", "postgresql://x").partitioning == Partitioning(1, (0,))
    auto = Settings("nats://x", "postgresql://x", partition_count=2, partitions="auto")
    assert auto.dynamic_partitions
    assert not Settings("nats://x", "postgresql://x", partitions="auto").dynamic_partitions  # one partition: no leases


def test_up_runs_n_instances_of_each_consuming_service() -> None:
    assert with_instances(1, 1) == PROCESSES
    processes = with_instances(2, 4)
    assert processes["dispatch"] == ("run", "dispatch", "--partitions", "0,2")
    assert processes["dispatch-2"] == ("run", "dispatch", "--partitions", "1,3")
    assert processes["reporting-2"] == ("run", "reporting", "--partitions", "1,3")
    assert processes["intake"] == PROCESSES["intake"]
    assert "intake-2" not in processes
    assert {user_of(name) for name in processes} == set(PROCESSES)
    assert with_instances(2, 2, leases=True)["parts-2"] == ("run", "parts", "--partitions", "auto")
