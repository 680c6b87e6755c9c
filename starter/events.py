"""Follow a job's progress events from its Redis Stream (the CLI reads Redis directly; HTTP clients use SSE)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio

from runtime.keys import RedisKeys
from schemas.events import ProgressEvent


async def follow(
    redis: redis.asyncio.Redis, keys: RedisKeys, job_id: str, last_id: str = "0", block_ms: int = 1000
) -> AsyncIterator[tuple[str, ProgressEvent | None]]:
    """Yield (stream id, event) as they arrive; (last id, None) after each idle `block_ms` so callers can poll."""
    stream = keys.events(job_id)
    while True:
        batch: Any = await redis.xread({stream: last_id}, block=block_ms, count=200)
        if not batch:
            yield last_id, None
            continue
        for _name, entries in batch:
            for entry_id, fields in entries:
                last_id = entry_id
                yield entry_id, ProgressEvent.from_stream_fields(fields)
