"""Issue 9, never stall: 500 good calls among 500 hostile messages all arrive in the read model, and
every hostile one is on `aftersales.deadletter.telephony` with its reason."""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from collections.abc import Callable
from typing import Any

import pytest

from shared.runtime.clock import encode_tick
from tests.integration.conftest import System
from tests.support import body, call, wait_until

pytestmark = pytest.mark.integration

NOW = "2026-11-23T10:00:00+08:00"
ONE_MB = 1_000_000


async def tick(system: System, iso: str) -> None:
    now = dt.datetime.fromisoformat(iso)
    await system.bus.js.publish(system.bus.names.clock_tick, encode_tick(now))

    async def ticked() -> bool:
        return system.intake.ports.clock.known_now() == now

    await wait_until(ticked, timeout_s=10, what=f"intake's clock at {iso}")


def _without(message: dict[str, Any], field: str) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k != field}


# (case, how to make its bytes from a unique call id, a part of the reason it must be dead-lettered with)
HOSTILE: list[tuple[str, Callable[[str], bytes], str]] = [
    ("nul in name", lambda c: body(call(c, customer={"name": "中铁\u0000", "phone": "1"})),
     "control character U+0000 in `$.customer.name`"),
    ("nul in description", lambda c: body(call(c, description="漏油\u0000")),
     "control character U+0000 in `$.description`"),
    ("escape control", lambda c: body(call(c, description="\u001b[31m")), "control character U+001B"),
    ("invalid utf-8", lambda c: body(call(c, description="@@")).replace(b"@@", b"\xff\xfe"), "not valid UTF-8"),
    ("encoded surrogate", lambda c: body(call(c, description="@@")).replace(b"@@", b"\xed\xa0\x80"),
     "not valid UTF-8"),
    ("lone surrogate", lambda c: json.dumps(call(c, description="\udc00")).encode(), "lone surrogate U+DC00"),
    ("duplicate call_id", lambda c: body(call(c)).replace(b'"call_id"', f'"call_id": "{c}-twin", "call_id"'.encode()),
     "duplicate key `call_id`"),
    ("oversize field", lambda c: body(call(c, description="漏" * 10_001)), "`$.description` is 10001 characters"),
    ("oversize message", lambda c: body(call(c, description="x" * 5_000, address="y" * 70_000)), "message is"),
    ("year 1", lambda c: body(call(c, received_at="0001-01-01T00:00:00+08:00")), "more than 30 days before"),
    ("year 9999", lambda c: body(call(c, received_at="9999-12-31T23:59:59+08:00")), "more than 1 day after"),
    ("year 2099", lambda c: body(call(c, received_at="2099-06-01T09:00:00+08:00")), "more than 1 day after"),
    ("next year", lambda c: body(call(c, received_at="2027-01-04T09:00:00+08:00")), "more than 1 day after"),
    ("last year", lambda c: body(call(c, received_at="2025-11-23T09:00:00+08:00")), "more than 30 days before"),
    ("future acceptance", lambda c: body(call(c, equipment={"serial": "S", "acceptance_date": "2026-12-01"})),
     "`equipment.acceptance_date` 2026-12-01 is after the call"),
    ("not json", lambda c: f"{{call_id: {c}".encode(), "not valid JSON"),
    ("not an object", lambda c: json.dumps([c]).encode(), "field rule broken"),
    ("unknown schema", lambda c: body({**call(c), "schema": "ComplaintReceived/7"}), "unknown schema"),
    ("no schema", lambda c: body(_without(call(c), "schema")), "missing `schema` field"),
    ("no call_id", lambda c: body({**_without(call(c), "call_id"), "agent_id": c}), "missing required field `call_id`"),
    ("no received_at", lambda c: body(_without(call(c), "received_at")), "missing required field `received_at`"),
    ("no kind", lambda c: body(_without(call(c), "kind")), "missing required field `kind`"),
    ("kind is a number", lambda c: body(call(c, kind=5)), "`$.kind`"),
    ("customer is text", lambda c: body(call(c, customer="中铁十局")), "`$.customer`"),
    ("distance is text", lambda c: body(call(c, site={"region": "四川", "distance_km": "far"})),
     "`$.site.distance_km`"),
    ("naive received_at", lambda c: body(call(c, received_at="2026-11-23T09:15:00")), "UTC offset"),
    ("survey for nobody", lambda c: body({"schema": "SurveyCompleted/1", "call_id": c, "complaint_no": f"TS-{c}",
                                          "rating": 5, "completed_at": "2026-11-23T09:30:00+08:00"}),
     "survey for an unknown complaint"),
]  # fmt: skip


async def test_500_good_calls_arrive_through_500_hostile_messages(system: System) -> None:
    started = time.monotonic()
    await tick(system, NOW)
    rng = random.Random(9)
    traffic: list[tuple[bytes, str | None]] = []  # (bytes, None for good or the expected reason)
    good_ids = [f"CALL-GOOD-{n:04d}" for n in range(500)]
    for n, call_id in enumerate(good_ids):
        received = dt.datetime.fromisoformat(NOW) - dt.timedelta(minutes=n % 600)
        traffic.append((body(call(call_id, received_at=received.isoformat())), None))
    for n in range(498):
        _, make, reason = HOSTILE[n % len(HOSTILE)]
        traffic.append((make(f"CALL-BAD-{n:04d}"), reason))
    for n in range(2):  # a 1 MB description: refused at the door, its dead letter truncated to fit the broker
        traffic.append((body(call(f"CALL-1MB-{n}", description="x" * ONE_MB)), "message is"))
    rng.shuffle(traffic)

    expected: dict[int, str] = {}
    for raw, refused_for in traffic:
        ack = await system.bus.js.publish(system.bus.names.complaint_received, raw)
        if refused_for is not None:
            expected[ack.seq] = refused_for
    assert len(expected) == 500

    async def all_good_visible() -> bool:
        return system.store.complaint_count() == 500

    async def all_bad_dead_lettered() -> bool:
        return await system.bus.stream_count(system.bus.names.deadletter_stream) >= 500

    await wait_until(all_good_visible, timeout_s=45, interval_s=0.2, what="500 good complaints in the read model")
    await wait_until(all_bad_dead_lettered, timeout_s=15, interval_s=0.2, what="500 dead letters")
    for call_id in good_ids:
        assert len(system.store.complaints_for_call(call_id)) == 1, call_id

    names = system.bus.names
    letters: dict[int, dict[str, Any]] = {}
    seq = 1
    while len(letters) < 500:
        msg = await system.bus.js.get_msg(names.deadletter_stream, seq=seq, subject=names.deadletter_all, next=True)
        assert msg.seq is not None
        assert msg.data is not None
        assert msg.subject == names.deadletter("telephony")
        letter = json.loads(msg.data)
        letters[letter["stream_seq"]] = letter
        seq = msg.seq + 1
    assert await system.bus.stream_count(names.deadletter_stream) == 500  # nothing twice, nothing else
    assert set(letters) == set(expected)
    for original_seq, reason in expected.items():
        assert reason in letters[original_seq]["reason"], (reason, letters[original_seq]["reason"])
    truncated = [letter for letter in letters.values() if letter["original_truncated"]]
    assert len(truncated) == 2
    assert all(letter["original_size"] > ONE_MB for letter in truncated)
    # No process restarted: the same in-process services and relay did all of it.
    assert system.intake.relay is not None
    assert all(not task.done() for task in system.intake._tasks)
    print(f"1000 messages (500 good, 500 hostile) handled in {time.monotonic() - started:.1f} s")
