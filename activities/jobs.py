"""Job bookkeeping activities that workflows run locally: dead-letter records and the closing ledger + event."""

from __future__ import annotations

from datetime import UTC, datetime

import redis.asyncio
from temporalio import activity

from activities.events import EventPublisher
from activities.metrics import record_dead_letter, record_job
from runtime.at_rest import at_rest_for
from runtime.deadletters import DeadLetterStore
from runtime.jobstats import JobStatsStore
from runtime.keys import RedisKeys
from runtime.logging import get_logger
from runtime.pricing import PriceTable
from runtime.settings import Settings
from schemas.answer import StepUsage
from schemas.dlq import DeadLetterEntry, FinishedJob, FinishJob
from schemas.events import EventType
from schemas.jobs import WORKFLOW_TYPES

log = get_logger(__name__)
PIPELINES = {workflow_type: pipeline.value for pipeline, workflow_type in WORKFLOW_TYPES.items()}


class JobActivities:
    """Bookkeeping that needs Redis, which workflow code cannot touch."""

    def __init__(self, redis: redis.asyncio.Redis, settings: Settings, prices: PriceTable) -> None:
        self.dead_letters = DeadLetterStore(redis, RedisKeys.of(settings), at_rest_for(settings.encryption_entries))
        self.events = EventPublisher(redis, settings)
        self.stats = JobStatsStore(redis, RedisKeys.of(settings))
        self.prices = prices

    @activity.defn(name="record_dead_letter")
    async def record_dead_letter(self, entry: DeadLetterEntry) -> None:
        """Store a dead letter's details (step, attempts, last error, input) for `dlq list` and `dlq replay`."""
        # A failure here fails the local activity, which Temporal retries: the record must not be lost.
        await self.dead_letters.record(entry)
        record_dead_letter(entry.pipeline.value, entry.step)
        log.warning("job dead-lettered", job_id=entry.job_id, step=entry.step, attempts=entry.attempts)

    @activity.defn(name="finish_job")
    async def finish_job(self, job: FinishJob) -> FinishedJob:
        """Price each step of the ledger and publish the job's terminal event."""
        steps = [s.model_copy(update={"cost_usd": self.prices.cost(s.usage)}) for s in job.steps]
        cost = sum(s.cost_usd for s in steps) + job.priced_usd
        data = {**job.data, "cost_usd": cost, "billed_tokens": sum(s.usage.billed_tokens for s in steps)}
        # Best effort by design: the publisher logs and drops events when Redis is away.
        await self.events.publish(job.job_id, EventType(job.event), data=data)
        await self._count(job, steps)
        return FinishedJob(steps=steps, cost_usd=cost)

    async def _count(self, job: FinishJob, steps: list[StepUsage]) -> None:
        """Job metrics on the worker's Prometheus port, and the per-minute counters `stats` reads from Redis."""
        pipeline = PIPELINES.get(activity.info().workflow_type or "", job.job_id.split("-", 1)[0])
        outcome = job.event.removeprefix("job.")
        latency = record_job(pipeline, outcome, job.started_at or await _run_start(), datetime.now(UTC), steps)
        try:
            await self.stats.record(pipeline, outcome, latency, steps)
        except (redis.RedisError, OSError) as err:
            # Best effort like the events: a job must not fail over its statistics.
            log.warning("job stats not recorded", job_id=job.job_id, error=str(err))


async def _run_start() -> datetime | None:
    """The closing run's start time from the server, for pipelines whose FinishJob does not carry `started_at`."""
    info = activity.info()
    if not info.workflow_id:
        return None
    try:
        handle = activity.client().get_workflow_handle(info.workflow_id, run_id=info.workflow_run_id)
        return (await handle.describe()).start_time
    except Exception as err:  # the metric is optional; the job's closing must not fail over it
        log.warning("job start time unknown", job_id=info.workflow_id, error=str(err))
        return None
