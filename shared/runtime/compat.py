"""Compatibility shim between faststream 0.7.8 and nats-py 2.16.

nats-py's `PullSubscription.fetch` raises a plain `asyncio.TimeoutError` when a fetch deadline runs
out between its two pull requests; faststream's pull loop only catches `nats.errors.TimeoutError`,
so its consume task dies and is restarted by the supervisor after a pause, stalling consumption.
`nats.errors.TimeoutError` subclasses `asyncio.TimeoutError`, so re-raising it is safe for every
other caller. Remove this once faststream catches the builtin `TimeoutError`.

nats-py 2.16's `JetStreamContext._handle_async_reply` calls `APIError.from_error`, which *raises*
instead of returning, so an error reply to `publish_async` (e.g. `wrong last msg ID`, err_code 10070)
never completes the publish future: whoever awaits it waits for ever, and its publish slot is never
given back. The shim completes the future with that error. Remove it once nats-py returns the error.

faststream 0.7.8's `TaskCallbackSupervisor` restarts a failed consume task *at once* and keeps every
failed task (with its exception and traceback) in the subscriber's `tasks` list until the subscriber
stops. With NATS away a fetch fails at once, so a subscriber spun at most of a core and grew without
bound (a `parts` process reached 2.5 GB in two hours). The shim drops the failed task from the list
and restarts it after a capped exponential backoff (reset after `HEALTHY_S` without a failure), and
not at all once the subscriber has stopped.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
import weakref
from typing import Any

import nats.errors
import nats.js.errors
from faststream._internal.endpoint.subscriber.supervisor import TaskCallbackSupervisor
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

_PATCHED = "_aftersales_timeout_shim"


RESTART_MIN_S = 0.1
RESTART_MAX_S = 5.0
HEALTHY_S = 30.0


def install() -> None:
    _install_fetch_timeout()
    _install_async_reply_errors()
    _install_supervisor_backoff()


def restart_delay(failures: int) -> float:
    """Seconds before the n-th consecutive restart (n ≥ 1): 0.1, 0.2, 0.4 … capped at 5."""
    return float(min(RESTART_MIN_S * 2 ** max(failures - 1, 0), RESTART_MAX_S))


def _install_supervisor_backoff() -> None:
    original = TaskCallbackSupervisor.__call__
    if getattr(original, _PATCHED, False):
        return
    # subscriber -> (consecutive failures, monotonic time of the last one)
    failures: weakref.WeakKeyDictionary[Any, tuple[int, float]] = weakref.WeakKeyDictionary()

    @functools.wraps(original)
    def supervise(self: Any, task: asyncio.Task[Any]) -> None:
        subscriber = self.subscriber
        if task.cancelled() or task not in subscriber.tasks:
            return
        exc = task.exception()
        if exc is None or isinstance(exc, self.ignored_exceptions) or not self.restart_on_failure:
            original(self, task)
            return
        subscriber.tasks.remove(task)  # a failed task is not kept (nor its traceback)
        count, last = failures.get(subscriber, (0, 0.0))
        now = time.monotonic()
        count = 1 if now - last > HEALTHY_S else count + 1
        failures[subscriber] = (count, now)
        delay = restart_delay(count)
        subscriber._outer_config.logger.log(
            f"{task.get_name()} failed ({exc!r}); restarting in {delay:.1f}s", log_level=logging.WARNING
        )

        def restart() -> None:
            if getattr(subscriber, "running", False):
                subscriber.add_task(self.func, self.args, self.kwargs)

        asyncio.get_running_loop().call_later(delay, restart)

    setattr(supervise, _PATCHED, True)
    TaskCallbackSupervisor.__call__ = supervise  # type: ignore[method-assign]


def _install_async_reply_errors() -> None:
    original = JetStreamContext._handle_async_reply
    if getattr(original, _PATCHED, False):
        return

    @functools.wraps(original)
    async def handle_async_reply(self: Any, msg: Msg) -> None:
        try:
            error = json.loads(msg.data).get("error") if msg.data[:1] == b"{" else None
        except ValueError:
            error = None
        if not isinstance(error, dict):
            await original(self, msg)
            return
        token = msg.subject[len(self._nc._inbox_prefix) + 22 + 2 :]
        future: asyncio.Future[Any] | None = self._publish_async_futures.get(token)
        if future is None or future.done():
            return
        try:
            nats.js.errors.APIError.from_error(error)
        except nats.js.errors.APIError as exc:
            future.set_exception(exc)

    setattr(handle_async_reply, _PATCHED, True)
    JetStreamContext._handle_async_reply = handle_async_reply  # type: ignore[method-assign]


def _install_fetch_timeout() -> None:
    pull = JetStreamContext.PullSubscription
    if getattr(pull.fetch, _PATCHED, False):
        return
    original = pull.fetch

    @functools.wraps(original)
    async def fetch(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await original(self, *args, **kwargs)
        except nats.errors.TimeoutError:
            raise
        except TimeoutError as exc:
            raise nats.errors.TimeoutError from exc

    setattr(fetch, _PATCHED, True)
    pull.fetch = fetch  # type: ignore[method-assign]
