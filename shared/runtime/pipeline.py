"""Overlap a consumer's database work with fetching and decoding its next batch.

With one worker (the default) batches are committed one at a time, in order; a consumer whose
work is idempotent and order-free (intake's registration, keyed by call id) may use more workers.
At most `depth` batches are in flight, so a slow database stops the fetching (backpressure)
instead of buffering without bound. A batch is acked only after its transaction committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import structlog

T = TypeVar("T")
log = structlog.get_logger()


class OrderedPipeline:
    def __init__(self, depth: int = 2, name: str = "db", workers: int = 1) -> None:
        self._slots = asyncio.Semaphore(depth)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(
        self,
        work: Callable[[], T],
        done: Callable[[T], Awaitable[None]],
        failed: Callable[[BaseException], Awaitable[None]],
    ) -> None:
        """Queue `work` (blocking, runs on the worker thread); then `done(result)` or `failed(exc)`."""
        await self._slots.acquire()
        future = asyncio.get_running_loop().run_in_executor(self._executor, work)
        task = asyncio.create_task(self._finish(future, done, failed))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _finish(
        self,
        future: asyncio.Future[Any],
        done: Callable[[Any], Awaitable[None]],
        failed: Callable[[BaseException], Awaitable[None]],
    ) -> None:
        try:
            try:
                result = await future
            except Exception as exc:
                await failed(exc)
            else:
                await done(result)
        except Exception as exc:  # settling failed (broker away): unacked messages come back after ack_wait
            log.warning("batch_settle_failed", error=repr(exc))
        finally:
            self._slots.release()

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._executor.shutdown(wait=True)
