"""Step events of activities that are not model calls (ingestion's document steps and embed groups).

Model calls get theirs from `StepRunner` (activities/attempt.py); these steps publish the same shapes: every attempt
sends `step.started {attempt}`, a later attempt also `step.retrying {attempt}`, and a step that returns sends
`step.completed {attempt, ...counts}`. A failed attempt sends nothing more: the next attempt's `step.retrying`, or
the job's terminal event, says what happened. Like every progress event they are best effort.
"""

from __future__ import annotations

from typing import Any

from redis.exceptions import RedisError
from temporalio import activity

from activities.events import STREAM_TTL_S, EventPublisher
from runtime.logging import get_logger
from schemas.events import EventType

log = get_logger(__name__)


def _job_id(job_id: str | None) -> str:
    info = activity.info()
    return job_id or info.workflow_id or info.activity_id


class StepEvents:
    """Publishes the running activity's step events to its job's stream (or `job_id`'s when given)."""

    def __init__(self, publisher: EventPublisher) -> None:
        self.publisher = publisher

    async def started(self, step: str, job_id: str | None = None) -> None:
        """`step.started`, and `step.retrying` when this is not the step's first attempt (as StepRunner does)."""
        attempt = activity.info().attempt
        await self.publisher.publish(_job_id(job_id), EventType.STEP_STARTED, step, {"attempt": attempt})
        if attempt > 1:
            await self.publisher.publish(_job_id(job_id), EventType.STEP_RETRYING, step, {"attempt": attempt})

    async def completed(self, step: str, data: dict[str, Any], job_id: str | None = None) -> None:
        """`step.completed` with the attempt and the step's counts."""
        payload = {"attempt": activity.info().attempt, **data}
        await self.publisher.publish(_job_id(job_id), EventType.STEP_COMPLETED, step, payload)

    async def tally(self, part: str, count: int, job_id: str | None = None) -> int | None:
        """Record `count` items done by `part` of this run; the run's total so far (None without Redis).

        Parallel parts finish in any order and a retried part finishes twice: a hash of part -> count, summed, stays
        right where a counter would double-count.
        """
        redis = self.publisher.redis
        if redis is None:
            return None
        key = self.publisher.keys.progress(_job_id(job_id), activity.info().workflow_run_id or "")
        try:
            async with redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, part, count)
                pipe.expire(key, STREAM_TTL_S)
                pipe.hvals(key)
                *_, values = await pipe.execute()
        except (RedisError, OSError) as err:
            log.warning("progress tally dropped", key=key, part=part, error=str(err))
            return None
        return sum(int(v) for v in values)
