"""Scale out: two instances each of dispatch, parts and reporting share one stream of complaints,
partitioned by complaint (shared/runtime/partitions.py); one instance of each is SIGKILLed mid-stream
and restarted (as its supervisor would). Afterwards nothing is lost or doubled and each complaint's
events were taken in order: a dispatch case or a read-model view that saw a complaint's fine before
the complaint itself would miss the fine (dispatch drops it, reporting parks it), so the exact counts
below also check the order."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import signal
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from psycopg.sql import SQL, Identifier

from aftersales.processes import Supervisor
from aftersales.simulate import simulate
from services.reporting.application import ReportingStore
from shared.events.dispatch_events import PartsReplaced, ReplacedPart
from shared.events.envelope import (
    HDR_CORRELATION,
    HDR_MSG_ID,
    HDR_POSITION,
    HDR_TYPE,
    Envelope,
    decode_envelope,
    encode_envelope,
    event_id_for,
)
from shared.runtime.clock import CHINA, encode_tick
from shared.runtime.partitions import Partition, partition_of
from shared.runtime.settings import Settings
from shared.runtime.streams import ensure_streams
from tests.support import Bus, ServiceProcess, service_env, wait_until, wire_event

pytestmark = pytest.mark.integration

TOTAL = 1_500
COUNT = 2
START = dt.datetime(2026, 11, 23, 9, 0, tzinfo=CHINA)


@pytest.fixture
def scaled(settings: Settings) -> Settings:
    return dataclasses.replace(settings, partition_count=COUNT)


@pytest.fixture
async def bus(scaled: Settings) -> AsyncIterator[Bus]:
    bus = await Bus.connect(scaled)
    await ensure_streams(bus.js, scaled.names)
    yield bus
    await bus.close()


@pytest.fixture
def processes() -> Iterator[dict[str, ServiceProcess]]:
    started: dict[str, ServiceProcess] = {}
    yield started
    for proc in started.values():
        proc.stop()


@dataclasses.dataclass
class Message:
    position: int
    type: str
    key: str
    data: dict[str, Any]
    event_id: str
    causation_id: str


async def stream(bus: Bus, service: str) -> list[Message]:
    """Every message on the service's stream, in stream order."""
    name = bus.names.events_stream(service)
    expected = await bus.stream_count(name)
    sub = await bus.js.pull_subscribe(
        bus.names.events_of(service), durable=None, stream=name,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE),
    )  # fmt: skip
    found: list[Message] = []
    while len(found) < expected:
        for m in await sub.fetch(1000, timeout=5):
            h, envelope = m.headers or {}, decode_envelope(m.data)
            found.append(Message(int(h[HDR_POSITION]), h[HDR_TYPE], h[HDR_CORRELATION], envelope.data,
                                 str(envelope.event_id), envelope.causation_id))  # fmt: skip
    await sub.unsubscribe()
    return found


def stored_positions(database_url: str, schema: str, service: str) -> list[int]:
    with psycopg.connect(database_url) as conn:
        query = SQL("SELECT notification_id FROM {0}.{1} ORDER BY 1").format(
            Identifier(schema), Identifier(f"{service}_events")
        )
        return [row[0] for row in conn.execute(query).fetchall()]


def tracked(database_url: str, schema: str, name: str) -> int:
    with psycopg.connect(database_url) as conn:
        query = SQL(
            "SELECT coalesce(max(notification_id), 0) FROM {0}.notification_tracking WHERE application_name = %s"
        )
        row = conn.execute(query.format(Identifier(schema)), (name,)).fetchone()
        return int(row[0]) if row else 0


async def test_two_instances_each_one_killed_mid_stream_nothing_lost_or_doubled(
    scaled: Settings, bus: Bus, tmp_path: Path, processes: dict[str, ServiceProcess]
) -> None:
    """Static ownership (`--partitions 0`, `--partitions 1`): the killed instances are restarted."""
    env = {"AFTERSALES_PARTITION_COUNT": str(COUNT)}

    def start(name: str, *args: str) -> None:
        processes[name] = ServiceProcess(scaled, tmp_path, *args, **env).start()

    start("intake", "intake")
    for service in ("dispatch", "parts", "reporting"):
        for p in range(COUNT):
            start(f"{service}-{p}", service, "--partitions", str(p))

    async def kill() -> None:
        # One of each: a follower of dispatch, the leader of parts (its relay and timers), a reporter.
        for victim in ("dispatch-1", "parts-0", "reporting-1"):
            processes[victim].kill()
        await asyncio.sleep(1.0)  # the supervisor's restart delay
        for victim in ("dispatch-1", "parts-0", "reporting-1"):
            processes[victim].start()

    await one_stream_with_a_kill(scaled, bus, kill)


async def test_dynamic_ownership_survivors_take_over_the_killed_instances_partitions(
    scaled: Settings, bus: Bus
) -> None:
    """`AFTERSALES_PARTITIONS=auto` under the supervisor of `aftersales up`: the instances share the
    partitions by fenced leases; one of each is SIGKILLed and never comes back, and the survivors take
    its partitions over once its leases lapse."""
    env = service_env(scaled, AFTERSALES_PARTITION_COUNT=str(COUNT), AFTERSALES_PARTITIONS="auto",
                      AFTERSALES_LEASE_TTL_S="3")  # fmt: skip
    argv = {"intake": ("run", "intake")}
    for service in ("dispatch", "parts", "reporting"):
        for i in range(COUNT):
            argv[f"{service}-{i}"] = ("run", service)
    supervisor = Supervisor(env, argv, say=lambda line: None)
    supervisor.start()

    async def supervise() -> None:
        while True:
            supervisor.poll()
            await asyncio.sleep(0.2)

    watching = asyncio.create_task(supervise())
    try:

        async def shared() -> bool:  # every service's partitions held by two live instances
            return all([len(set((await asyncio.to_thread(_holders, scaled, s)).values())) == COUNT for s in SCALED])

        await wait_until(shared, timeout_s=90, interval_s=0.5, what="the partitions shared by the instances")

        async def kill() -> None:
            for service in SCALED:  # the holder of partition 1, for good
                victim = next(name for name in supervisor.children if name.startswith(service) and
                              supervisor.pid(name) == _holders(scaled, service)[1])  # fmt: skip
                process = supervisor.children.pop(victim).process
                assert process is not None
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=10)

        await one_stream_with_a_kill(scaled, bus, kill)
        for service in SCALED:  # the survivors hold everything now
            assert len(set(_holders(scaled, service).values())) == 1
    finally:
        watching.cancel()
        supervisor.stop()


SCALED = ("dispatch", "parts", "reporting")


def _holders(settings: Settings, service: str) -> dict[int, int]:
    """partition → pid of its live lease holder."""
    with psycopg.connect(settings.database_url) as conn:
        query = SQL("SELECT partition, owner FROM {0}.partition_leases WHERE expires_at > clock_timestamp()")
        try:
            rows = conn.execute(query.format(Identifier(settings.names.db_schema(service)))).fetchall()
        except psycopg.errors.UndefinedTable:
            return {}
    return {int(p): int(str(owner).split(":")[1]) for p, owner in rows}


async def one_stream_with_a_kill(scaled: Settings, bus: Bus, kill: Callable[[], Awaitable[None]]) -> None:
    await bus.js.publish(scaled.names.clock_tick, encode_tick(START))
    names = scaled.names
    store = ReportingStore(scaled.database_url, names.db_schema("reporting"))
    store.open()
    try:
        publisher = asyncio.create_task(
            simulate(scaled.nats_url, names, count=TOTAL, rate=600, duplicate_ratio=0, bad_ratio=0, start=START)
        )

        async def under_way() -> bool:
            return store.complaint_count() >= TOTAL // 4

        await wait_until(under_way, timeout_s=120, interval_s=0.05, what="the consumers under way")
        # Deadlines breached for what is registered so far: fines and escalations interleave with
        # the complaints still arriving, all of one complaint in one partition.
        await bus.js.publish(scaled.names.clock_tick, encode_tick(START + dt.timedelta(days=10)))
        assert store.complaint_count() < TOTAL, "everything was done before the kill: the test proved nothing"
        await kill()
        await publisher

        async def all_registered() -> bool:  # before the last tick, so that its timers cover every call
            return sum(m.type == "ComplaintReceived" for m in await stream(bus, "intake")) >= TOTAL

        await wait_until(all_registered, timeout_s=300, interval_s=1.0, what="every call registered by intake")
        await bus.js.publish(scaled.names.clock_tick, encode_tick(START + dt.timedelta(days=11)))

        intake_events = await _settled(bus, "intake")
        dispatch_schema, parts_schema = names.db_schema("dispatch"), names.db_schema("parts")
        fines: dict[str, set[str]] = defaultdict(set)
        upstream: dict[str, Counter[str]] = defaultdict(Counter)
        for m in intake_events:
            upstream[m.key][m.type] += 1
            if m.type == "FineLevied":
                fines[m.key].add(m.data["fine_id"])
        complaints = {m.key for m in intake_events if m.type == "ComplaintReceived"}
        assert len(complaints) == TOTAL
        assert sum(len(f) for f in fines.values()) >= TOTAL // 2, "too few fines to show anything"

        async def dispatch_done() -> bool:
            seen = Counter(m.type for m in await stream(bus, "dispatch"))
            return seen["IntakeFineNoted"] >= sum(c["FineLevied"] for c in upstream.values())

        await wait_until(dispatch_done, timeout_s=180, interval_s=1.0, what="dispatch noting every fine")

        async def read_model_done() -> bool:
            return store.complaint_count() >= TOTAL and _fines_in(store, complaints) == dict(fines)

        await wait_until(read_model_done, timeout_s=180, interval_s=1.0, what="the read model complete")
        dispatch_events = await _settled(bus, "dispatch")
        last = {
            (p, service): max([0] + [m.position for m in events if partition_of(m.key, COUNT) == p])
            for p in range(COUNT)
            for service, events in (("intake", intake_events), ("dispatch", dispatch_events))
        }

        def behind() -> dict[str, int]:
            """How far each consumer's position per partition is from the last event of its partition."""
            found: dict[str, int] = {}
            reporting = store.positions()
            for p in range(COUNT):
                partition = Partition(p, COUNT)
                on_intake, on_dispatch = partition.tracking("intake"), partition.tracking("dispatch")
                found[f"dispatch {p}"] = last[p, "intake"] - tracked(scaled.database_url, dispatch_schema, on_intake)
                found[f"parts {p}"] = last[p, "dispatch"] - tracked(scaled.database_url, parts_schema, on_dispatch)
                found[f"reporting/intake {p}"] = last[p, "intake"] - reporting.get(on_intake, 0)
                found[f"reporting/dispatch {p}"] = last[p, "dispatch"] - reporting.get(on_dispatch, 0)
            return found

        async def caught_up() -> bool:
            return all(n <= 0 for n in behind().values())

        await wait_until(caught_up, timeout_s=120, interval_s=1.0, what="every partition's position at its end")
        await asyncio.sleep(2.0)  # anything doubled would show up now
        assert await stream(bus, "dispatch") == dispatch_events  # nothing more came
        # Every partition's position is exactly the last event of that partition, in each consuming store.
        assert set(behind().values()) == {0}, behind()
        noted: dict[str, Counter[str]] = defaultdict(Counter)
        for m in dispatch_events:
            noted[m.key][m.type] += 1
        for key in complaints:  # each complaint's events in dispatch exactly once
            assert noted[key]["DispatchCaseOpened"] == 1, key
            assert noted[key]["IntakeFineNoted"] == upstream[key]["FineLevied"], key
            assert noted[key]["IntakeEscalationNoted"] == upstream[key]["EscalationRaised"], key
        # ... and in order: what dispatch recorded for one complaint follows intake's order of its causes.
        intake_position = {f"intake:{m.event_id}": m.position for m in intake_events}
        caused: dict[str, list[int]] = defaultdict(list)
        for m in dispatch_events:
            if m.causation_id in intake_position:
                caused[m.key].append(intake_position[m.causation_id])
        assert sum(len(c) for c in caused.values()) >= TOTAL * 2
        for key, causes in caused.items():
            assert causes == sorted(causes), key
        # What dispatch stored is what its (leader's) relay published, once each.
        assert [m.position for m in dispatch_events] == stored_positions(
            scaled.database_url, dispatch_schema, "dispatch"
        )
        assert store.complaint_count() == TOTAL
        assert _fines_in(store, complaints) == dict(fines)  # every fine once, on its complaint
    finally:
        store.close()


async def _settled(bus: Bus, service: str) -> list[Message]:
    """The stream once it has stopped growing for a moment."""
    last = -1
    while True:
        count = await bus.stream_count(bus.names.events_stream(service))
        if count == last:
            return await stream(bus, service)
        last = count
        await asyncio.sleep(5.0)  # a loaded machine can pause that long between timer batches


def _fines_in(store: ReportingStore, complaints: set[str]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for no in complaints:
        view = store.complaint(no) or {}
        ids = [f["fine_id"] for f in view.get("fines", [])]
        assert len(ids) == len(set(ids)), f"a fine twice on {no}"
        if ids:
            found[no] = set(ids)
    return found


PARTS_COMPLAINTS = 400


async def test_two_parts_instances_one_killed_mid_stream_every_part_recorded_once(
    scaled: Settings, bus: Bus, tmp_path: Path, processes: dict[str, ServiceProcess]
) -> None:
    """Parts does work only on `PartsReplaced`: dispatch's stream is written here as its relay writes
    it (as tests/e2e/test_parts.py does), two forms per complaint, while two parts instances record the
    parts; the leader (partition 0: also the relay) is SIGKILLed mid-stream and restarted."""
    env = {"AFTERSALES_PARTITION_COUNT": str(COUNT)}
    for p in range(COUNT):
        processes[f"parts-{p}"] = ServiceProcess(scaled, tmp_path, "parts", "--partitions", str(p), **env).start()
    names = scaled.names
    await bus.js.publish(names.clock_tick, encode_tick(START))
    parts_schema = names.db_schema("parts")

    def recorded() -> int:
        try:
            return len(stored_positions(scaled.database_url, parts_schema, "parts"))
        except psycopg.errors.UndefinedTable:
            return 0

    async def started() -> bool:
        return all([await _exists(bus, f"parts-dispatch-p{p}") for p in range(COUNT)])

    await wait_until(started, timeout_s=60, interval_s=0.2, what="both parts instances consuming")
    expected: dict[str, str] = {}
    position = 0
    for n in range(PARTS_COMPLAINTS):
        no = f"TS-2026-{n + 1:08d}"
        for form in range(2):  # the second form of a complaint repeats its first part and adds one
            position += 1
            ids = [f"P-{n}-0", f"P-{n}-{form + 1}"]
            expected.update(dict.fromkeys(ids, no))
            await _publish_form(bus, position, no, ids)
        if n == PARTS_COMPLAINTS // 3:
            await wait_until(lambda: asyncio.to_thread(lambda: recorded() > 0), timeout_s=60, what="parts under way")
            processes["parts-0"].kill()
            killed_at = recorded()
            processes["parts-0"].start()

    async def all_recorded() -> bool:
        return len({m.data["part_id"] for m in await stream(bus, "parts") if m.type == "PartRecorded"}) >= len(expected)

    await wait_until(all_recorded, timeout_s=180, interval_s=1.0, what="every part recorded and published")
    await asyncio.sleep(2.0)
    published = await stream(bus, "parts")
    records = [(m.data["part_id"], m.key) for m in published if m.type == "PartRecorded"]
    assert sorted(records) == sorted(expected.items())  # each part once, on its complaint
    assert [m.position for m in published] == stored_positions(scaled.database_url, parts_schema, "parts")
    assert 0 < killed_at < len(published) // 2, "killed before it began or after it was done: proved nothing"
    for p in range(COUNT):
        partition = Partition(p, COUNT)
        last = max(i + 1 for i in range(position) if partition_of(f"TS-2026-{i // 2 + 1:08d}", COUNT) == p)
        assert tracked(scaled.database_url, parts_schema, partition.tracking("dispatch")) == last


async def _exists(bus: Bus, durable: str) -> bool:
    try:
        await bus.js.consumer_info(bus.names.events_stream("dispatch"), bus.names.durable(durable))
    except NotFoundError:
        return False
    return True


async def _publish_form(bus: Bus, position: int, complaint_no: str, part_ids: list[str]) -> None:
    at = START + dt.timedelta(days=1)
    form = wire_event(PartsReplaced, complaint_no=complaint_no, dispatch_id=f"D-{position}", completed_at=at,
                      parts=[_replaced(part_id) for part_id in part_ids])  # fmt: skip
    aggregate_id = uuid.uuid5(uuid.NAMESPACE_URL, f"form-{position}")
    envelope = Envelope(
        event_id=event_id_for(aggregate_id, 1), type="PartsReplaced", version=1, occurred_at=at, service="dispatch",
        position=position, aggregate_id=aggregate_id, aggregate_version=1, correlation_id=complaint_no,
        causation_id="test:dispatch", data=form.wire_data(),
    )  # fmt: skip
    headers = {HDR_MSG_ID: str(envelope.event_id), HDR_POSITION: str(position), HDR_TYPE: "PartsReplaced",
               HDR_CORRELATION: complaint_no}  # fmt: skip
    await bus.js.publish(bus.names.event("dispatch", "PartsReplaced"), encode_envelope(envelope), headers=headers)


def _replaced(part_id: str) -> ReplacedPart:
    return ReplacedPart(
        part_id=part_id, dispatch_order_no="PG-20261124-001", equipment_no="QY25K-2024-00871",
        material_code="M-OILCYL-25", description="主臂伸缩油缸", quantity=1, unit_price_fen=1_250_000,
        total_fen=1_250_000, responsible_engineer="eng-9", region="四川", fault="油缸内泄", return_to_hq=True,
        completed_on=dt.date(2026, 11, 24),
    )  # fmt: skip
