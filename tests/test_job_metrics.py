"""The job-closing activity records latency from dispatch even for a pipeline that does not pass its start time."""

from __future__ import annotations

import uuid
from datetime import timedelta

import redis.asyncio
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from activities.jobs import JobActivities
    from runtime.jobstats import JobStatsStore
    from runtime.keys import RedisKeys
    from runtime.pricing import price_table
    from runtime.settings import Settings
    from schemas.answer import StepUsage
    from schemas.dlq import FinishedJob, FinishJob
    from schemas.usage import Usage
    from workers.registry import workflow_runner


@workflow.defn(name="AnswerQuestion")  # the type names the pipeline (`answer`)
class ClosesWithoutStartTime:
    """Sleeps a little, then closes the way a pipeline does, without `started_at`."""

    @workflow.run
    async def run(self) -> float:
        """Return the priced cost."""
        await workflow.sleep(timedelta(milliseconds=300))
        usage = Usage(model="sim-chat", prompt_tokens=3, completion_tokens=4, billed_tokens=7)
        job = FinishJob(
            job_id=workflow.info().workflow_id, event="job.completed", steps=[StepUsage(step="s", usage=usage)]
        )
        finished: FinishedJob = await workflow.execute_local_activity(
            "finish_job", job, result_type=FinishedJob, start_to_close_timeout=timedelta(seconds=10)
        )
        return finished.cost_usd


async def test_latency_is_measured_from_the_run_start_when_not_passed(
    client: Client, isolated_settings: Settings, isolated_redis: redis.asyncio.Redis
) -> None:
    queue = f"jobs-{uuid.uuid4().hex[:8]}"
    jobs = JobActivities(isolated_redis, isolated_settings, price_table())
    async with Worker(
        client,
        task_queue=queue,
        workflows=[ClosesWithoutStartTime],
        activities=[jobs.finish_job],
        workflow_runner=workflow_runner(),
    ):
        await client.execute_workflow(ClosesWithoutStartTime.run, id=f"answer-{queue}", task_queue=queue)
    window = await JobStatsStore(isolated_redis, RedisKeys.of(isolated_settings)).window(5)
    answer = window.pipelines["answer"]
    assert answer.completed == 1
    assert answer.p50_s is not None and 0.3 <= answer.p50_s < 30
    assert window.models["sim-chat"].billed_tokens == 7
