"""Every service follows the published working calendars (docs/rules.md §9) from intake's stream.

`aftersales calendar publish` records `CalendarPublished` in intake's store; intake's relay puts it on
`aftersales.intake.CalendarPublished`. Each service reads that subject from the start of the stream
at start-up (an ordered consumer, so nothing is kept per service) and keeps following it. Start-up
waits, bounded, until it has caught up with the last publication, so a restarted service does not
decide on a provisional year that was published long ago.

While a year within `PROVISIONAL_WARNING_DAYS` (or the current one) has no published schedule, the
gauge `aftersales_calendar_provisional{year}` is 1 and a warning is logged once a day.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable

import msgspec
import nats.js.errors
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from prometheus_client import Gauge

from shared.events.catalog import CalendarPublished, payload
from shared.events.envelope import decode_envelope
from shared.events.subjects import Names
from shared.runtime.clock import ClockNotStarted, ServiceClock
from shared.workcal import CHINA, CalendarRegistry, InvalidSchedule, YearSchedule

PROVISIONAL = Gauge("aftersales_calendar_provisional", "1 while a year's working calendar is provisional",
                    ["service", "year"])  # fmt: skip
log = structlog.get_logger()
CATCH_UP_S = 10.0
CHECK_EVERY_S = 3600.0


def clock_today(clock: ServiceClock) -> Callable[[], dt.date]:
    """Today in China by the service clock (the external clock before its first tick: the wall)."""

    def today() -> dt.date:
        try:
            return clock.now().astimezone(CHINA).date()
        except ClockNotStarted:
            return dt.datetime.now(CHINA).date()

    return today


def schedule_of(event: CalendarPublished) -> YearSchedule:
    """The published schedule, checked against the version it was recorded with."""
    schedule = YearSchedule.make(event.year, map(dt.date.fromisoformat, event.holidays),
                                 map(dt.date.fromisoformat, event.workdays), "published")  # fmt: skip
    if schedule.version != event.calendar_version:
        raise InvalidSchedule(
            f"calendar {event.year}: content is {schedule.version}, recorded {event.calendar_version}"
        )
    return schedule


class CalendarFeed:
    """Follows `CalendarPublished`: `on_change` takes each schedule into the application (True if
    it was new there); `registry` is the application's, read for the provisional warnings."""

    def __init__(
        self,
        service: str,
        names: Names,
        registry: CalendarRegistry,
        on_change: Callable[[YearSchedule], bool],
        today: Callable[[], dt.date] | None = None,
    ) -> None:
        self.service = service
        self.names = names
        self.registry = registry
        self.on_change = on_change
        self.today = today or (lambda: dt.datetime.now(CHINA).date())
        self._seen = 0
        self._caught_up = asyncio.Event()
        self._warned: dict[int, dt.date] = {}

    async def start(self, js: JetStreamContext) -> asyncio.Task[None]:
        subject = self.names.event("intake", "CalendarPublished")
        stream = self.names.events_stream("intake")
        try:
            last = (await asyncio.wait_for(js.get_last_msg(stream, subject), CATCH_UP_S)).seq or 0
        except nats.js.errors.NotFoundError:
            last = 0
        await js.subscribe(subject, stream=stream, cb=self._on_message, ordered_consumer=True,
                           deliver_policy=DeliverPolicy.ALL)  # fmt: skip
        if last:
            try:
                await asyncio.wait_for(self._until(last), CATCH_UP_S)
            except TimeoutError:
                log.warning("calendar_catch_up_timeout", service=self.service, last=last, seen=self._seen)
        self.check_provisional()
        return asyncio.create_task(self._watch(), name=f"{self.service}-calendar")

    async def _until(self, seq: int) -> None:
        while self._seen < seq:
            self._caught_up.clear()
            await self._caught_up.wait()

    async def _on_message(self, msg: Msg) -> None:
        self._seen = max(self._seen, msg.metadata.sequence.stream)
        try:
            event = payload(decode_envelope(msg.data))
            if not isinstance(event, CalendarPublished):
                raise InvalidSchedule(f"unexpected {type(event).__name__} on the calendar subject")
            schedule = schedule_of(event)
        except (msgspec.ValidationError, msgspec.DecodeError, InvalidSchedule, ValueError) as exc:
            log.error("calendar_event_refused", service=self.service, error=str(exc),
                      seq=msg.metadata.sequence.stream)  # fmt: skip
        else:
            if self.on_change(schedule):
                log.info("calendar_in_use", service=self.service, year=schedule.year, version=schedule.version)
                self.check_provisional()
        self._caught_up.set()

    def check_provisional(self) -> list[int]:
        today = self.today()
        years = self.registry.provisional_ahead(today)
        for year in range(today.year, today.year + 2):
            PROVISIONAL.labels(self.service, str(year)).set(1 if year in years else 0)
        for year in years:
            if self._warned.get(year) != today:
                self._warned[year] = today
                log.warning("calendar_provisional", service=self.service, year=year,
                            hint="publish it: aftersales calendar publish FILE.toml")  # fmt: skip
        return years

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(CHECK_EVERY_S)
            self.check_provisional()
