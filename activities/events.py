"""Progress events: a bounded Redis Stream per job, written by activities (workflows cannot touch Redis)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError
from temporalio import activity

from runtime.at_rest import at_rest_for
from runtime.event_fields import sealed_fields
from runtime.keys import RedisKeys
from runtime.logging import get_logger
from runtime.settings import Settings
from schemas.events import EventType, ProgressEvent, PublishEventInput

log = get_logger(__name__)

STREAM_MAXLEN = 1000  # approximate (MAXLEN ~): Redis trims whole macro-nodes, which is far cheaper than exact
STREAM_TTL_S = 7 * 24 * 3600  # a finished job's stream goes away on its own
TOKEN_FLUSH_S = 0.05  # token deltas are batched this long: one XADD per ~50 ms, not per chunk


class EventPublisher:
    """Appends ProgressEvents to `<prefix>:events:<job_id>`; Redis failures are logged, never raised."""

    def __init__(self, redis: redis.asyncio.Redis | None, settings: Settings) -> None:
        self.redis = redis
        self.keys = RedisKeys.of(settings)
        self.at_rest = at_rest_for(settings.encryption_entries)  # event JSON rests encrypted when keys are set

    async def publish(
        self, job_id: str, type: EventType | str, step: str | None = None, data: dict[str, Any] | None = None
    ) -> str | None:
        """Append one event; returns its stream id, or None when Redis is unavailable (the step goes on)."""
        if self.redis is None:
            return None
        event = ProgressEvent(type=EventType(type), job_id=job_id, step=step, data=data or {})
        stream = self.keys.events(job_id)
        try:
            if event.type.terminal:
                # A closing activity retried after it published (its result lost) must not end the stream twice:
                # the marker and the event are set in one script, so exactly one terminal event is appended.
                fields = [part for pair in sealed_fields(event, self.at_rest, stream).items() for part in pair]
                run_id = activity.info().workflow_run_id if activity.in_activity() else None
                marker = self.keys.terminal_event(job_id, run_id or "")
                entry_id = await self.redis.eval(
                    _TERMINAL_ONCE, 2, stream, marker, STREAM_MAXLEN, STREAM_TTL_S, *fields
                )
                if entry_id is None:
                    log.info("terminal event already published", job_id=job_id, type=event.type.value)
                    return None
            else:
                async with self.redis.pipeline(transaction=False) as pipe:
                    self._stage(pipe, event)
                    entry_id, _ = await pipe.execute()
        except (RedisError, OSError) as err:
            log.warning("progress event dropped", job_id=job_id, type=event.type.value, step=step, error=str(err))
            return None
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    def staged(self, job_id: str, type: EventType, step: str, data: dict[str, Any]) -> Staged:
        """A non-terminal event as commands to queue on another pipeline: one Redis round trip for both.

        The step runner sends `step.started` with its lease's SET and `step.completed` with the stored result (each
        is its own round trip otherwise, four per model call). Queued before the other command, the event keeps its
        order; `dropped` logs it when its reply is an error, as `publish` does.
        """
        event = ProgressEvent(type=type, job_id=job_id, step=step, data=data)

        def stage(pipe: Pipeline) -> int:
            return self._stage(pipe, event)

        def dropped(replies: list[Any]) -> None:
            for reply in replies:
                if isinstance(reply, Exception):
                    log.warning("progress event dropped", job_id=job_id, type=type.value, step=step, error=str(reply))
                    return

        return Staged(stage, dropped)

    def _stage(self, pipe: Pipeline, event: ProgressEvent) -> int:
        """Queue XADD + EXPIRE of a non-terminal event on pipe; the number of commands queued."""
        stream = self.keys.events(event.job_id)
        entry = sealed_fields(event, self.at_rest, stream)
        pipe.xadd(stream, entry, maxlen=STREAM_MAXLEN, approximate=True)  # type: ignore[arg-type]
        pipe.expire(stream, STREAM_TTL_S)
        return 2


@dataclass(frozen=True)
class Staged:
    """Commands that queue an event on a pipeline (`stage` returns how many) and the check of their replies."""

    stage: Callable[[Pipeline], int]
    dropped: Callable[[list[Any]], None]


# KEYS: stream, marker; ARGV: maxlen, ttl, field, value, ...: append the event unless the marker is already set.
_TERMINAL_ONCE = """
if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) then return false end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[2])
return id
"""


class TokenBatcher:
    """Collects token deltas of a streaming step and publishes them as `token` events at most every ~50 ms.

    Each event carries the attempt that produced it (`{delta, attempt}`), so a consumer can tell a retry's text
    from the text of the attempt it replaces. `after_first` runs once the first token event is out (a test hook).
    """

    def __init__(
        self,
        publisher: EventPublisher,
        job_id: str,
        step: str,
        interval_s: float = TOKEN_FLUSH_S,
        attempt: int = 1,
        after_first: Callable[[], None] | None = None,
    ) -> None:
        self.publisher = publisher
        self.job_id = job_id
        self.step = step
        self.interval_s = interval_s
        self.attempt = attempt
        self.after_first = after_first
        self._buffer: list[str] = []
        self._last_flush = time.monotonic()

    async def add(self, delta: str) -> None:
        """Buffer one delta; publish the buffer once the interval has passed since the last publish."""
        if delta:
            self._buffer.append(delta)
        if self._buffer and time.monotonic() - self._last_flush >= self.interval_s:
            await self.flush()

    async def flush(self) -> None:
        """Publish whatever is buffered as one `token` event."""
        self._last_flush = time.monotonic()
        if not self._buffer:
            return
        text = "".join(self._buffer)
        self._buffer.clear()
        await self.publisher.publish(self.job_id, EventType.TOKEN, self.step, {"delta": text, "attempt": self.attempt})
        if self.after_first is not None:
            hook, self.after_first = self.after_first, None
            hook()


class EventActivities:
    """The `publish_event` activity: how workflows emit job-level events (job.completed, job.dead_lettered, ...)."""

    def __init__(self, redis: redis.asyncio.Redis | None, settings: Settings) -> None:
        self.publisher = EventPublisher(redis, settings)

    @activity.defn(name="publish_event")
    async def publish_event(self, event: PublishEventInput) -> str | None:
        """Append one event to the job's stream; returns its stream id (None when Redis was unavailable)."""
        return await self.publisher.publish(event.job_id, event.type, event.step, event.data)
