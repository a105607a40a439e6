"""What every service process shares: the broker, its streams, the relay and the clock.

The composition root of a service (`services/<name>/main.py`) builds its application and
subscribers and hands them to `ServiceRuntime`; a test wires the same root with its own settings.

Never stall: the broker connection retries for ever with a pause between attempts and notices a dead
server within `PING_INTERVAL_S * MAX_OUTSTANDING_PINGS`; consume tasks restart with backoff
(`compat`); the relay bounds its waits. `run_forever` stops when asked, whatever state the start is
in, and bounds its own stop (`STOP_TIMEOUT_S`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from eventsourcing.application import Application
from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker, NatsMessage, NatsRouter, PullSub
from faststream.security import SASLPlaintext
from nats.js import JetStreamContext
from nats.js.api import AckPolicy as JsAckPolicy
from nats.js.api import ConsumerConfig, DeliverPolicy

from shared.events.subjects import Names
from shared.events.telephony import DoorLimits
from shared.runtime import compat
from shared.runtime.checkpoints import verifier_for
from shared.runtime.clock import ClockNotStarted, ServiceClock, decode_tick, wall_now
from shared.runtime.deadletter import dead_letter
from shared.runtime.relay import Relay
from shared.runtime.settings import Settings
from shared.runtime.streams import ensure_streams
from shared.security.authn import Authenticator

log = structlog.get_logger()

OnTick = Callable[[dt.datetime], Awaitable[None]]

RECONNECT_WAIT_S = 2
PING_INTERVAL_S = 10
MAX_OUTSTANDING_PINGS = 3
STOP_TIMEOUT_S = 8.0
"""How long a graceful stop may take (consumers drain, the pool closes) before it is abandoned."""


def raw_batch(msg: Any) -> Any:
    """Decoder that leaves bodies as bytes: each handler decodes (and dead-letters) on its own."""
    return msg.body


def consumer_config(durable: str, ack_wait_s: float = 10.0, max_ack_pending: int = 20_000) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=durable,
        ack_policy=JsAckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=ack_wait_s,
        max_ack_pending=max_ack_pending,
        max_deliver=-1,
    )


def broker_security(settings: Settings) -> SASLPlaintext | None:
    """The process's NATS user and password (`Settings.nats_credentials`), if it has one."""
    credentials = settings.nats_user()
    return None if credentials is None else SASLPlaintext(username=credentials.user, password=credentials.password)


def quiet_faststream_logger() -> logging.Logger:
    """faststream logs every consume round at INFO; we keep its warnings and errors only."""
    logger = logging.getLogger("aftersales.faststream")
    logger.setLevel(logging.WARNING)
    return logger


class BackgroundTaskFailed(RuntimeError):
    """A task the service cannot do without ended with an error."""


class Ports:
    """Adapters a handler may need besides its application: set once the broker is connected."""

    def __init__(
        self,
        names: Names,
        clock: ServiceClock | None = None,
        door_limits: DoorLimits | None = None,
        authenticator: Authenticator | None = None,
    ) -> None:
        self.names = names
        self._authenticator = authenticator
        """Checks the credential every staff command carries (`shared/security/authn.py`)."""
        self.clock = clock or ServiceClock("wall")
        self.door_limits = door_limits or DoorLimits()
        """What an inbound telephony message may be (`decode_telephony(raw, clock.known_now(), door_limits)`)."""
        self.relay_wakeup = asyncio.Event()
        self._js: JetStreamContext | None = None

    @property
    def authenticator(self) -> Authenticator:
        if self._authenticator is None:
            raise RuntimeError("no authenticator: this process takes no commands")
        return self._authenticator

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise RuntimeError("broker not connected yet")
        return self._js


class ServiceRuntime:
    def __init__(
        self,
        settings: Settings,
        service: str,
        app: Application[uuid.UUID] | None,
        router: NatsRouter | None,
        ports: Ports,
        on_tick: OnTick | None = None,
        run_relay: bool = True,
    ) -> None:
        compat.install()
        self.settings = settings
        self.service = service
        self.app = app
        self.ports = ports
        self.on_tick = on_tick
        self.broker = NatsBroker(
            settings.nats_url,
            graceful_timeout=5.0,
            max_reconnect_attempts=-1,
            reconnect_time_wait=RECONNECT_WAIT_S,
            connect_timeout=5,
            ping_interval=PING_INTERVAL_S,
            max_outstanding_pings=MAX_OUTSTANDING_PINGS,
            logger=quiet_faststream_logger(),
            security=broker_security(settings),
        )
        if router is not None:
            self.broker.include_router(router)
        self.relay: Relay | None = None
        self._run_relay = run_relay and app is not None
        self._tasks: list[asyncio.Task[None]] = []
        # Run once the broker is connected and the streams exist, before consuming (e.g. the calendar feed).
        self.start_hooks: list[Callable[[JetStreamContext], Awaitable[asyncio.Task[None]]]] = []
        if on_tick is not None and settings.clock == "external":
            self._add_tick_subscriber()

    def _add_tick_subscriber(self) -> None:
        names = self.settings.names
        durable = names.durable(f"{self.service}-clock")

        @self.broker.subscriber(
            names.clock_tick,
            stream=JStream(names.clock_stream, declare=False),
            durable=durable,
            config=consumer_config(durable),
            pull_sub=PullSub(batch_size=1, timeout=1.0),
            ack_policy=AckPolicy.MANUAL,
            decoder=raw_batch,
            title=f"{self.service}/clock",
            description="External clock ticks (AFTERSALES_CLOCK=external); deadlines fire on them.",
        )
        async def on_clock_tick(body: bytes, msg: NatsMessage) -> None:
            try:
                tick = decode_tick(body)
            except (ValueError, TypeError) as exc:
                await dead_letter(self.ports.js, names, "clock", msg.raw_message, f"bad clock tick: {exc}")
                await msg.ack()
                return
            await self.tick(tick.now)
            await msg.ack()

    async def tick(self, now: dt.datetime) -> None:
        """Fire what `now` makes due, then remember `now`; an older tick than the last is ignored."""
        if self.on_tick is None:
            return
        clock = self.ports.clock
        if clock.mode == "external":
            try:
                if now <= clock.now():
                    return
            except ClockNotStarted:
                pass
        await self.on_tick(now)
        await asyncio.to_thread(clock.advance, now)

    async def start(self) -> None:
        await self.broker.connect()
        js = self.broker.connection.jetstream(publish_async_max_pending=8000)
        self.ports._js = js
        await ensure_streams(js, self.settings.names, self.settings.stream_replicas)
        for hook in self.start_hooks:
            self._tasks.append(await hook(js))
        await self.broker.start()
        if self._run_relay and self.app is not None:
            self.relay = Relay(
                self.app, js, self.settings.names, self.service, wakeup=self.ports.relay_wakeup,
                verifier=verifier_for(self.settings), checkpoint_interval_s=self.settings.checkpoint_interval_s,
            )  # fmt: skip
            self._tasks.append(asyncio.create_task(self.relay.run(), name=f"{self.service}-relay"))
        if self.on_tick is not None and self.settings.clock == "wall":
            self._tasks.append(asyncio.create_task(self._wall_clock(), name=f"{self.service}-clock"))
        log.info("service_started", clock=self.settings.clock, relay=self._run_relay)

    async def _wall_clock(self) -> None:
        while True:
            try:
                await self.tick(wall_now())
            except Exception as exc:
                log.warning("tick_failed", error=repr(exc))
            await asyncio.sleep(1.0)

    async def stop(self) -> None:
        if self.relay is not None:
            await asyncio.to_thread(self.relay.stop)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await self.broker.stop()
        finally:
            if self.app is not None:
                await asyncio.to_thread(self.app.close)
            if self.ports._authenticator is not None:
                await asyncio.to_thread(self.ports._authenticator.close)

    async def _until_stopped(self, stopping: asyncio.Task[Any]) -> None:
        """Wait for the stop request; a background task (relay, clock, hook) that dies of an error
        ends the process instead of leaving it running without it (its supervisor restarts it)."""
        watched: set[asyncio.Task[Any]] = {stopping, *self._tasks}
        while True:
            done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
            if stopping in done:
                return
            for task in done:
                watched.discard(task)
                error = None if task.cancelled() else task.exception()
                if error is not None:
                    log.error("background_task_failed", task=task.get_name(), error=repr(error))
                    raise BackgroundTaskFailed(task.get_name()) from error

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Start, run until `stop` is set, stop. A stop asked for while the start still waits (for a
        broker or a database that is away) cancels the start; the stop itself is bounded."""
        starting = asyncio.create_task(self.start(), name=f"{self.service}-start")
        stopping = asyncio.create_task(stop.wait(), name=f"{self.service}-stop-requested")
        try:
            await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if starting.done():
                starting.result()  # a failed start raises here: the supervisor restarts the process
                await self._until_stopped(stopping)
        finally:
            for task in (starting, stopping):
                task.cancel()
            await asyncio.gather(starting, stopping, return_exceptions=True)
            try:
                async with asyncio.timeout(STOP_TIMEOUT_S):
                    await self.stop()
            except TimeoutError:
                log.warning("stop_timed_out", after_s=STOP_TIMEOUT_S)
