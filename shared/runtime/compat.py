"""Compatibility shim between faststream 0.7.8 and nats-py 2.16.

nats-py's `PullSubscription.fetch` raises a plain `asyncio.TimeoutError` when a fetch deadline runs
out between its two pull requests; faststream's pull loop only catches `nats.errors.TimeoutError`,
so its consume task dies and is restarted by the supervisor after a pause, stalling consumption.
`nats.errors.TimeoutError` subclasses `asyncio.TimeoutError`, so re-raising it is safe for every
other caller. Remove this once faststream catches the builtin `TimeoutError`.
"""

from __future__ import annotations

import functools
from typing import Any

import nats.errors
from nats.js.client import JetStreamContext

_PATCHED = "_aftersales_timeout_shim"


def install() -> None:
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
