"""A tick repeated in the background while a block of work runs (heartbeats, lock refreshes)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable


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
