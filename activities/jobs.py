"""Job bookkeeping activities that workflows run locally: dead-letter records and the closing ledger + event."""

from __future__ import annotations

import redis.asyncio
from temporalio import activity

from activities.events import EventPublisher
from runtime.deadletters import DeadLetterStore
from runtime.keys import RedisKeys
from runtime.logging import get_logger
from runtime.pricing import PriceTable
from runtime.settings import Settings
from schemas.dlq import DeadLetterEntry, FinishedJob, FinishJob
from schemas.events import EventType

log = get_logger(__name__)


class JobActivities:
    """Bookkeeping that needs Redis, which workflow code cannot touch."""

    def __init__(self, redis: redis.asyncio.Redis, settings: Settings, prices: PriceTable) -> None:
        self.dead_letters = DeadLetterStore(redis, RedisKeys.of(settings))
        self.events = EventPublisher(redis, settings)
        self.prices = prices

    @activity.defn(name="record_dead_letter")
    async def record_dead_letter(self, entry: DeadLetterEntry) -> None:
        """Store a dead letter's details (step, attempts, last error, input) for `dlq list` and `dlq replay`."""
        # A failure here fails the local activity, which Temporal retries: the record must not be lost.
        await self.dead_letters.record(entry)
        log.warning("job dead-lettered", job_id=entry.job_id, step=entry.step, attempts=entry.attempts)

    @activity.defn(name="finish_job")
    async def finish_job(self, job: FinishJob) -> FinishedJob:
        """Price each step of the ledger and publish the job's terminal event."""
        steps = [s.model_copy(update={"cost_usd": self.prices.cost(s.usage)}) for s in job.steps]
        cost = sum(s.cost_usd for s in steps)
        data = {**job.data, "cost_usd": cost, "billed_tokens": sum(s.usage.billed_tokens for s in steps)}
        # Best effort by design: the publisher logs and drops events when Redis is away.
        await self.events.publish(job.job_id, EventType(job.event), data=data)
        return FinishedJob(steps=steps, cost_usd=cost)
