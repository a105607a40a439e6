"""Settling a batch message by message (`shared/runtime/batches.py`): pure logic, a fake `apply`."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
import pytest
from eventsourcing.persistence import OperationalError

from shared.runtime.batches import gave_up_reason, gives_up, retry_delay, settle, settle_in_order
from shared.runtime.failures import MAX_DELIVERIES, PermanentFailure


class Store:
    """All-or-nothing like one transaction: commits a part only if no unit in it fails."""

    def __init__(self, failures: dict[int, Exception]) -> None:
        self.failures = failures
        self.committed: list[int] = []

    def apply(self, part: Sequence[int]) -> int:
        for unit in part:
            if unit in self.failures:
                raise self.failures[unit]
        self.committed.extend(part)
        return len(part)


def translated_outage() -> Exception:
    """How the eventsourcing library reports the database away: its own error, from psycopg's."""
    try:
        try:
            raise psycopg.OperationalError("connection refused")
        except psycopg.OperationalError as exc:
            raise OperationalError(str(exc)) from exc
    except OperationalError as exc:
        return exc


@pytest.mark.parametrize("culprit", [0, 7, 31, 63])
def test_one_unexpected_failure_is_isolated_and_the_rest_commits(culprit: int) -> None:
    store = Store({culprit: KeyError("boom")})
    settled = settle(list(range(64)), store.apply)
    assert settled.poison == [(culprit, "KeyError: 'boom'")]
    assert sorted(store.committed) == [u for u in range(64) if u != culprit]
    assert settled.retry == []
    assert settled.attempts <= 2 * 6 + 1


def test_a_permanent_failure_is_poison_with_its_own_words() -> None:
    store = Store({2: PermanentFailure("survey for an unknown complaint")})
    settled = settle([1, 2, 3], store.apply)
    assert settled.poison == [(2, "survey for an unknown complaint")]


def test_a_transient_failure_of_one_unit_comes_back_alone() -> None:
    store = Store({5: translated_outage()})
    settled = settle(list(range(8)), store.apply)
    assert [u for u, _ in settled.retry] == [5]
    assert "connection refused" in settled.retry[0][1]
    assert sorted(store.committed) == [0, 1, 2, 3, 4, 6, 7]


def test_the_database_away_for_everyone_sends_the_batch_back_without_splitting_it_down() -> None:
    outage = translated_outage()
    store = Store({u: outage for u in range(100)})
    settled = settle(list(range(100)), store.apply)
    assert [u for u, _ in settled.retry] == list(range(100))
    assert settled.attempts == 3  # the batch and its two halves
    assert settled.poison == []


def test_in_order_a_poison_unit_is_passed_and_what_follows_applied() -> None:
    store = Store({3: ValueError("bad")})
    settled = settle_in_order(list(range(8)), store.apply, lambda u: "undecodable" if u == 6 else None)
    assert settled.handled == list(range(8))
    assert settled.poison == [(3, "ValueError: bad"), (6, "undecodable")]
    assert store.committed == [0, 1, 2, 4, 5, 7]  # in order, never past a unit not yet settled
    assert settled.rest == []


def test_in_order_a_transient_failure_stops_there_and_everything_after_comes_back() -> None:
    store = Store({4: translated_outage()})
    settled = settle_in_order(list(range(8)), store.apply, lambda u: "undecodable" if u == 6 else None)
    assert settled.handled == [0, 1, 2, 3]
    assert settled.rest == [4, 5, 6, 7]
    assert "connection refused" in settled.retry_reason
    assert store.committed == [0, 1, 2, 3]


def test_retries_back_off_and_are_bounded() -> None:
    delays = [retry_delay(n, 2.0) for n in range(1, MAX_DELIVERIES)]
    assert delays == [2.0, 8.0, 32.0, 128.0]
    assert retry_delay(20, 2.0) == 300.0
    assert [gives_up(n) for n in range(1, MAX_DELIVERIES + 1)] == [False] * (MAX_DELIVERIES - 1) + [True]
    assert gave_up_reason(5, "OperationalError: x") == "gave up after 5 deliveries: OperationalError: x"
