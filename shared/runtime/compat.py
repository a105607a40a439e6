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
"""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

_PATCHED = "_aftersales_timeout_shim"


def install() -> None:
    _install_fetch_timeout()
    _install_async_reply_errors()


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
