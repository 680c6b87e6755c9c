"""Work that runs beside or beyond its caller: a tick repeated while a block runs, work a cancellation cannot cut."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


@contextlib.asynccontextmanager
async def repeating(every_s: float, tick: Callable[[], Awaitable[None]]) -> AsyncIterator[None]:
    """Run `tick` every `every_s` seconds until the block exits; the tick's task is cancelled and awaited."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(every_s)
            await tick()

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def uncancellable(work: Awaitable[T]) -> T:
    """Run `work` to its end even when the caller is cancelled meanwhile; the cancellation is raised after it ends."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        # The caller goes on being cancelled, but only once the work is done (its own error is the work's to report).
        with contextlib.suppress(Exception):
            await task
        raise
