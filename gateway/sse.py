"""A job's progress events as Server-Sent Events, read from its Redis Stream with blocking XREADs.

Each connection blocks in XREAD for up to the keep-alive interval (no polling loop); sse-starlette sends the keep-alive
comments. A `Last-Event-ID` resumes after that stream id; if entries after it were trimmed away, a `snapshot` event
(the job's current status and result) comes first. The stream ends after the terminal event: the one the run
published (enriched with the final status and result), or one synthesized from `describe()` when the run ended
without one (terminated, cancelled, timed out) — checked whenever the stream has been idle for a keep-alive interval.
A Redis that stops answering ends the stream cleanly within REDIS_GRACE_S past the read's block time: a comment
saying so and a `retry` hint, then a proper close, so EventSource reconnects with its Last-Event-ID and loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio
from redis.exceptions import RedisError, ResponseError
from sse_starlette import ServerSentEvent

from gateway.metrics import STREAMS
from runtime.at_rest import at_rest_for
from runtime.event_fields import opened_event
from runtime.keys import RedisKeys
from runtime.logging import get_logger
from schemas.events import EventType, ProgressEvent
from schemas.jobs import JobInfo, JobStatus
from starter.client import GenAIFlowClient

log = get_logger(__name__)

READ_COUNT = 500
RESULT_WAIT_S = 10.0  # a terminal event is published just before the run closes: wait this long for the close
REDIS_GRACE_S = 2.0  # a Redis read may take its block time plus this long before the stream gives up on Redis
RECONNECT_MS = 2000  # the `retry` hint sent when Redis stalls: EventSource reconnects after this long

_TERMINAL_BY_STATUS = {
    JobStatus.COMPLETED: EventType.JOB_COMPLETED,
    JobStatus.DEAD_LETTERED: EventType.JOB_DEAD_LETTERED,
    JobStatus.FAILED: EventType.JOB_FAILED,
}


def _id_tuple(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


async def trimmed_after(redis: redis.asyncio.Redis, stream: str, last_id: str) -> bool:
    """True when entries newer than `last_id` may have been trimmed (or the whole stream expired)."""
    try:
        info: dict[str, Any] = await redis.xinfo_stream(stream)
    except ResponseError:
        return True  # no stream any more: whatever followed last_id is gone
    if int(info.get("entries-added") or 0) <= int(info.get("length") or 0):
        return False  # nothing was ever trimmed
    # Trimming (MAXLEN) removes the oldest entries only: a gap exists when last_id is older than the first kept one.
    first = info.get("first-entry")
    return first is None or _id_tuple(last_id) < _id_tuple(str(first[0]))


def _sse(event: ProgressEvent, stream_id: str | None = None) -> ServerSentEvent:
    return ServerSentEvent(data=event.model_dump_json(), event=event.type.value, id=stream_id)


async def redis_answers(redis: redis.asyncio.Redis, timeout_s: float = 0.5) -> bool:
    """True when Redis answers PING within timeout_s (checked before a stream starts, so a stall is a clear 503)."""
    try:
        async with asyncio.timeout(timeout_s):
            return bool(await redis.ping())
    except (RedisError, OSError, TimeoutError):
        return False


def _final(info: JobInfo) -> dict[str, Any]:
    return info.model_dump(mode="json", include={"status", "outcome", "result", "error", "usage"})


async def _closed_info(flow: GenAIFlowClient, job_id: str) -> JobInfo:
    """The job's status once its run has closed (waits briefly: terminal events precede the close)."""
    with contextlib.suppress(Exception):
        # Any outcome will do (failure, cancellation, timeout): we only wait for the close.
        await asyncio.wait_for(flow.handle(job_id).result(), RESULT_WAIT_S)
    return await flow.status(job_id, with_steps=False)


async def job_events(
    flow: GenAIFlowClient, redis: redis.asyncio.Redis, job_id: str, last_id: str, closed: bool, block_s: float
) -> AsyncIterator[ServerSentEvent]:
    """The SSE events of one job from `last_id` ("0" = from the start) until its terminal event."""
    stream = RedisKeys.of(flow.settings).events(job_id)
    at_rest = at_rest_for(flow.settings.encryption_entries)
    STREAMS.inc()
    try:
        async with asyncio.timeout(REDIS_GRACE_S):
            trimmed = last_id != "0" and await trimmed_after(redis, stream, last_id)
        if trimmed:
            info = await flow.status(job_id, with_steps=False)
            snapshot = ProgressEvent(type=EventType.SNAPSHOT, job_id=job_id, data={"job": info.model_dump(mode="json")})
            yield _sse(snapshot)
        while True:
            # A closed run gets no new events: read what is there without blocking.
            block = None if closed else int(block_s * 1000)
            async with asyncio.timeout((block or 0) / 1000 + REDIS_GRACE_S):
                batch: Any = await redis.xread({stream: last_id}, block=block, count=READ_COUNT)
            for _name, entries in batch or []:
                for entry_id, fields in entries:
                    last_id = entry_id
                    try:
                        event = opened_event(fields, at_rest, stream)
                    except ValueError as err:  # AtRestKeyError too: its message names the missing key
                        log.warning("unreadable progress event skipped", job_id=job_id, id=entry_id, error=str(err))
                        continue
                    if event.type.terminal:
                        info = await _closed_info(flow, job_id)
                        event.data = {**event.data, **_final(info)}
                        yield _sse(event, entry_id)
                        return
                    yield _sse(event, entry_id)
            if batch:
                continue
            # Idle for a whole keep-alive interval (or closed): did the run end without a terminal event?
            info = await flow.status(job_id, with_steps=False)
            if info.status.closed:
                data = {**_final(info), "synthesized": True}
                yield _sse(ProgressEvent(type=_TERMINAL_BY_STATUS[info.status], job_id=job_id, data=data))
                return
            closed = False
    except (RedisError, OSError, TimeoutError) as err:
        # Not an unhandled error mid-response: say why, hint the reconnect delay, and close the stream properly.
        log.warning("event stream closed: redis unavailable", job_id=job_id, error=str(err) or type(err).__name__)
        yield ServerSentEvent(comment="events unavailable: redis did not answer; reconnect with Last-Event-ID")
        yield ServerSentEvent(retry=RECONNECT_MS)
    finally:
        STREAMS.dec()
