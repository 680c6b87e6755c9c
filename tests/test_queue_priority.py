"""Temporal's task-queue priority and fairness keys, honoured by the dev server as `up` starts it; the jobs using them.

A backlog of activity tasks (made before any activity worker polls) is served by one slot: tasks of a higher
priority go first whatever their arrival, and tasks of two fairness keys alternate. Ingestion jobs start with the bulk
priority and their owner's fairness key (inherited by their activities); answer jobs keep the default.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.common import Priority
from temporalio.worker import Worker

from runtime.objectstore import ObjectStore
from schemas.answer import AnswerRequest
from schemas.ingest import IngestJob
from schemas.jobs import Pipeline
from schemas.queues import BULK_PRIORITY
from starter.client import GenAIFlowClient
from tests.helpers import private_settings

served: list[str] = []


@activity.defn
async def serve(name: str) -> None:
    """Note the order tasks are served in."""
    served.append(name)


@workflow.defn(sandboxed=False)
class OneTask:
    """One activity task, with the workflow's priority (activities inherit it)."""

    @workflow.run
    async def run(self, name: str) -> None:
        """Schedule the task."""
        await workflow.execute_activity(serve, name, start_to_close_timeout=timedelta(seconds=60))


async def backlog_order(client: Client, queue: str, tasks: list[tuple[str, Priority]]) -> list[str]:
    """Start one workflow per task in order, let them all schedule their activity, then serve them with one slot."""
    served.clear()
    handles: list[WorkflowHandle[OneTask, None]] = []
    async with Worker(client, task_queue=queue, workflows=[OneTask]):
        for name, priority in tasks:
            started = await client.start_workflow(
                OneTask.run, name, id=f"{queue}-{name}", task_queue=queue, priority=priority
            )
            handles.append(started)
        async with asyncio.timeout(60):  # every activity task waits in the queue: a backlog
            for handle in handles:
                while not (await handle.describe()).raw_description.pending_activities:
                    await asyncio.sleep(0.1)
        async with Worker(client, task_queue=queue, activities=[serve], max_concurrent_activities=1):
            await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), 120)
    return list(served)


async def test_a_backlog_is_served_by_priority(client: Client, unique: str) -> None:
    low = [(f"low{i}", Priority(priority_key=BULK_PRIORITY)) for i in range(6)]
    high = [(f"high{i}", Priority.default) for i in range(2)]
    order = await backlog_order(client, f"prio-{unique}", low + high)
    assert sorted(order[:2]) == ["high0", "high1"], order  # queued last, served first


async def test_a_backlog_is_served_fairly_between_keys(client: Client, unique: str) -> None:
    a = [(f"a{i}", Priority(fairness_key="key-a")) for i in range(6)]
    b = [(f"b{i}", Priority(fairness_key="key-b")) for i in range(2)]
    order = await backlog_order(client, f"fair-{unique}", a + b)
    assert {"b0", "b1"} <= set(order[:4]), order  # without fairness keys: served 7th and 8th


async def test_ingestion_jobs_are_bulk_and_fair_and_answers_keep_the_default(
    client: Client, unique: str, tmp_path: Path
) -> None:
    flow = GenAIFlowClient(client, private_settings(unique))  # no workers: the jobs only wait
    doc = tmp_path / "doc.txt"
    doc.write_text("The Zephyr reactor was commissioned in 2031.")
    async with ObjectStore() as store:
        ingest = await flow.ingest((await store.head(str(doc))).as_version(), f"c-{unique}", owner="k-owner")
    answer = await flow.start(Pipeline.ANSWER, AnswerRequest(question="Who?", collection=f"c-{unique}"))
    assert isinstance(ingest, IngestJob)
    try:
        bulk = (await flow.handle(ingest.job_id).describe()).raw_description.workflow_execution_info.priority
        interactive = (await flow.handle(answer.job_id).describe()).raw_description.workflow_execution_info.priority
    finally:
        for job in (ingest.job_id, answer.job_id):
            await flow.handle(job).terminate("test over")
    assert (bulk.priority_key, bulk.fairness_key) == (BULK_PRIORITY, "k-owner")
    assert (interactive.priority_key, interactive.fairness_key) == (0, "")  # 0: the default (3)
