"""What `/healthz` and `/metrics` tell about the pipeline: a list of checks, each returning reasons.

A check is an async callable returning the reasons (human-readable sentences) why the system is
degraded; no reasons means healthy. `Health` runs every check at once, each within a bounded wait
(a check that fails or runs out of time is itself a reason), and sets the Prometheus gauges.
The lead adds checks with `Health.add` (for example "provisional calendar in use").

The default checks:
- consumer lag: every durable consumer on the project's streams, messages not yet acknowledged
  (JetStream `consumer_info`: pending + ack pending; for an unfiltered consumer at least the stream's
  last sequence minus the consumer's ack floor), over `HealthLimits.max_lag`;
- relay lag: a service's newest stored notification id minus the position its relay last published
  (the `Aftersales-Position` header of the last message on its stream), over `max_lag`;
- dead letters growing: messages added to `aftersales.deadletter.<source>` within the window;
- parked timers: rows in `<schema>.parked_timers` of each service schema where the table exists
  (shape in shared/runtime/failures.py);
- provisional calendar (added by the API once it follows the published calendars): a year that runs
  now, or starts within 60 days, has no published working calendar (docs/rules.md §9).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import nats.errors
import psycopg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from prometheus_client import Gauge

from services.reporting.application import ReportingStore
from shared.events.envelope import HDR_POSITION
from shared.events.subjects import SERVICES, Names
from shared.runtime.calendar_feed import CalendarFeed
from shared.runtime.streams import stream_configs

Check = Callable[[], Awaitable[Sequence[str]]]

CONSUMER_LAG = Gauge(
    "aftersales_consumer_lag", "Messages a durable consumer has not yet acknowledged", ["stream", "consumer"],
    multiprocess_mode="livemostrecent",
)  # fmt: skip
RELAY_LAG = Gauge(
    "aftersales_relay_lag", "Events a service stored that its relay has not published yet", ["service"],
    multiprocess_mode="livemostrecent",
)  # fmt: skip
DEADLETTERS_RECENT = Gauge(
    "aftersales_deadletters_recent", "Dead letters added within the health window", ["source"],
    multiprocess_mode="livemostrecent",
)  # fmt: skip
PARKED_TIMERS = Gauge(
    "aftersales_parked_timers", "Timers parked until an operator releases them", ["schema"],
    multiprocess_mode="livemostrecent",
)  # fmt: skip
DEGRADED = Gauge(
    "aftersales_health_degraded", "1 when /healthz reports reasons, else 0", multiprocess_mode="livemostrecent"
)
REASONS = Gauge("aftersales_health_reasons", "How many reasons /healthz reports", multiprocess_mode="livemostrecent")

EVENT_SERVICES = ("intake", "dispatch", "parts")
"""Services with an event store and a relay; their notification log is `<schema>.<service>_events`."""


@dataclass(frozen=True)
class HealthLimits:
    """Thresholds of `degraded`; `from_env` reads the `AFTERSALES_HEALTH_*` overrides."""

    max_lag: int = 10_000
    deadletter_window_s: float = 300.0
    check_timeout_s: float = 3.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> HealthLimits:
        env = os.environ if env is None else env
        default = cls()
        return cls(
            max_lag=int(env.get("AFTERSALES_HEALTH_MAX_LAG", default.max_lag)),
            deadletter_window_s=float(env.get("AFTERSALES_HEALTH_DEADLETTER_WINDOW_S", default.deadletter_window_s)),
            check_timeout_s=float(env.get("AFTERSALES_HEALTH_CHECK_TIMEOUT_S", default.check_timeout_s)),
        )


class Health:
    """The pluggable list of checks behind `/healthz` and the health gauges on `/metrics`."""

    def __init__(self, checks: Sequence[Check] = (), timeout_s: float = 3.0) -> None:
        self.checks: list[Check] = list(checks)
        self.timeout_s = timeout_s

    def add(self, check: Check) -> None:
        self.checks.append(check)

    async def reasons(self) -> list[str]:
        results = await asyncio.gather(*(self._run(check) for check in self.checks))
        reasons = [reason for result in results for reason in result]
        DEGRADED.set(1 if reasons else 0)
        REASONS.set(len(reasons))
        return reasons

    async def _run(self, check: Check) -> list[str]:
        name = getattr(check, "__name__", type(check).__name__)
        try:
            return list(await asyncio.wait_for(check(), self.timeout_s))
        except TimeoutError:
            return [f"health check {name} did not finish within {self.timeout_s:g} s"]
        except (nats.errors.Error, psycopg.Error, OSError) as exc:
            return [f"health check {name} could not run: {type(exc).__name__}: {exc}"]


def consumer_lag_check(js: JetStreamContext, names: Names, max_lag: int) -> Check:
    streams = [c.name for c in stream_configs(names) if c.name and c.name != names.deadletter_stream]

    async def consumer_lag() -> list[str]:
        reasons = []
        for stream in streams:
            try:
                info = await js.stream_info(stream)
                consumers = await js.consumers_info(stream)
            except NotFoundError:
                continue
            for consumer in consumers:
                lag = (consumer.num_pending or 0) + (consumer.num_ack_pending or 0)
                config = consumer.config
                if not config.filter_subject and not config.filter_subjects and consumer.ack_floor is not None:
                    lag = max(lag, info.state.last_seq - consumer.ack_floor.stream_seq)
                CONSUMER_LAG.labels(stream, consumer.name).set(lag)
                if lag > max_lag:
                    reasons.append(f"consumer {consumer.name} on {stream} is {lag} messages behind (over {max_lag})")
        return reasons

    return consumer_lag


def relay_lag_check(js: JetStreamContext, names: Names, store: ReportingStore, max_lag: int) -> Check:
    tables = {names.db_schema(s): f"{s}_events" for s in EVENT_SERVICES}

    def stored_positions() -> dict[str, int]:
        return store.stored_positions(tables)

    async def published_position(service: str) -> int:
        stream = names.events_stream(service)
        try:
            info = await js.stream_info(stream)
            if info.state.last_seq == 0 or info.state.messages == 0:
                return 0
            last = await js.get_msg(stream, seq=info.state.last_seq)
        except NotFoundError:
            return 0
        return int((last.headers or {}).get(HDR_POSITION, 0))

    async def relay_lag() -> list[str]:
        stored = await asyncio.to_thread(stored_positions)
        reasons = []
        for service, top in stored.items():
            lag = max(0, top - await published_position(service))
            RELAY_LAG.labels(service).set(lag)
            if lag > max_lag:
                reasons.append(f"the relay of {service} is {lag} events behind its store (over {max_lag})")
        return reasons

    return relay_lag


class DeadLetterWatch:
    """Dead letters added within the window, by source; the baseline is the newest sample at least
    `window_s` old (or the first sample, taken when the API starts)."""

    __name__ = "dead_letters"

    def __init__(
        self, js: JetStreamContext, names: Names, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.js = js
        self.names = names
        self.window_s = window_s
        self.clock = clock
        self.prefix = names.deadletter("")
        self.samples: deque[tuple[float, dict[str, int]]] = deque()

    async def __call__(self) -> list[str]:
        try:
            info = await self.js.stream_info(self.names.deadletter_stream, subjects_filter=self.names.deadletter_all)
        except NotFoundError:
            return []
        counts = {subject.removeprefix(self.prefix): int(n) for subject, n in (info.state.subjects or {}).items()}
        now = self.clock()
        if not self.samples or now - self.samples[-1][0] >= 1.0:
            self.samples.append((now, counts))
        while len(self.samples) >= 2 and self.samples[1][0] <= now - self.window_s:
            self.samples.popleft()
        baseline = self.samples[0][1]
        growth = {source: max(0, n - baseline.get(source, 0)) for source, n in counts.items()}
        for source, added in growth.items():
            DEADLETTERS_RECENT.labels(source).set(added)
        grown = {source: added for source, added in sorted(growth.items()) if added}
        if not grown:
            return []
        detail = ", ".join(f"{source}: {added}" for source, added in grown.items())
        window = f"{self.window_s:g} s"
        return [f"{sum(grown.values())} dead letters added in the last {window} or more ({detail})"]


def parked_timers_check(store: ReportingStore, names: Names) -> Check:
    schemas = [names.db_schema(s) for s in SERVICES]

    def parked() -> list[dict[str, Any]]:
        return store.parked_timers(schemas)

    async def parked_timers() -> list[str]:
        reasons = []
        for row in await asyncio.to_thread(parked):
            PARKED_TIMERS.labels(row["schema"]).set(row["n"])
            if row["n"]:
                since = row["since"].isoformat()
                reasons.append(f"{row['n']} timers parked in {row['schema']} (oldest since {since}: {row['reason']})")
        return reasons

    return parked_timers


def default_checks(
    js: JetStreamContext | None, names: Names, store: ReportingStore, limits: HealthLimits
) -> list[Check]:
    """The checks of the module docstring; without a broker only the database ones."""
    checks: list[Check] = [parked_timers_check(store, names)]
    if js is not None:
        checks += [
            consumer_lag_check(js, names, limits.max_lag),
            relay_lag_check(js, names, store, limits.max_lag),
            DeadLetterWatch(js, names, limits.deadletter_window_s),
        ]
    return checks


def provisional_calendar_check(feed: CalendarFeed) -> Check:
    """docs/rules.md §9: from 60 days before a year starts, a provisional calendar is a reason."""

    async def provisional_calendar() -> list[str]:
        return [
            f"working calendar {year} is provisional (weekends and statutory holidays only, no 调休): "
            f"publish it with `aftersales calendar publish {year}.toml`"
            for year in feed.check_provisional()
        ]

    return provisional_calendar
