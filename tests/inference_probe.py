"""A one-step probe workflow and an in-test worker for the inference activities (tests of retries and locks)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import redis.asyncio
from pydantic import BaseModel
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.inference import InferenceActivities
from activities.llm import make_llm
from activities.retry import inference_activity_options
from runtime.settings import Settings
from schemas.inference import ChatResult, EmbedResult, StructuredResult
from schemas.sim import SimLedger
from tests.helpers import sim_ledger

RESULT_TYPES: dict[str, type[BaseModel]] = {"chat": ChatResult, "structured": StructuredResult, "embed": EmbedResult}


class Probe(BaseModel):
    """One activity call with explicit (short) timeouts."""

    activity: str
    request: dict[str, Any]
    step_deadline_s: float = 60.0
    inference_timeout_s: float = 5.0
    heartbeat_timeout_s: float = 2.0
    activity_queue: str | None = None  # default: the workflow's own queue


@workflow.defn(name="InferenceProbe")
class InferenceProbe:
    """Runs one inference activity with the project's retry options and returns its result."""

    @workflow.run
    async def run(self, probe: Probe) -> dict[str, Any]:
        """Execute the activity on this workflow's own task queue."""
        options = inference_activity_options(
            timedelta(seconds=probe.step_deadline_s),
            inference_timeout=timedelta(seconds=probe.inference_timeout_s),
            heartbeat_timeout=timedelta(seconds=probe.heartbeat_timeout_s),
        )
        result: BaseModel = await workflow.execute_activity(
            probe.activity,
            probe.request,
            result_type=RESULT_TYPES[probe.activity],
            task_queue=probe.activity_queue or workflow.info().task_queue,
            **options,
        )
        return result.model_dump(mode="json")


@asynccontextmanager
async def probe_worker(
    client: Client,
    settings: Settings,
    queue: str,
    redis: redis.asyncio.Redis | None,
    max_activities: int = 20,
    workflows: bool = True,
    activities: bool = True,
) -> AsyncIterator[InferenceActivities]:
    """A Worker serving the probe workflow and/or the inference activities on `queue`."""
    llm = make_llm(settings)
    acts = InferenceActivities(llm, redis, settings)
    worker = Worker(
        client,
        task_queue=queue,
        workflows=[InferenceProbe] if workflows else [],
        activities=[acts.chat, acts.structured, acts.embed] if activities else [],
        workflow_runner=UnsandboxedWorkflowRunner(),
        max_concurrent_activities=max_activities,
    )
    try:
        async with worker:
            yield acts
    finally:
        await llm.close()


async def run_probe(client: Client, queue: str, workflow_id: str, probe: Probe) -> dict[str, Any]:
    """Run the probe workflow to completion (raises WorkflowFailureError when the step fails)."""
    handle = await client.start_workflow(InferenceProbe.run, probe, id=workflow_id, task_queue=queue)
    return await asyncio.wait_for(handle.result(), timeout=probe.step_deadline_s + 30)


@dataclass
class Rig:
    """This test's probe set-up: a private task queue, Redis key prefix and workflow ids, and the sim's ledger."""

    client: Client
    settings: Settings
    redis: redis.asyncio.Redis
    unique: str
    sim_url: str

    @property
    def queue(self) -> str:
        return f"q-{self.unique}"

    def wf(self, name: str) -> str:
        """The workflow id of this test's probe called name."""
        return f"probe-{name}-{self.unique}"

    def worker(self, settings: Settings | None = None, **options: Any) -> AbstractAsyncContextManager[Any]:
        """The probe worker on this test's queue (settings default to the test's own)."""
        return probe_worker(self.client, settings or self.settings, self.queue, self.redis, **options)

    async def probe(self, name: str, probe: Probe) -> dict[str, Any]:
        """Run one probe on a worker that is already running."""
        return await run_probe(self.client, self.queue, self.wf(name), probe)

    async def run(self, name: str, probe: Probe) -> dict[str, Any]:
        """Start a worker, run one probe, stop the worker."""
        async with self.worker():
            return await self.probe(name, probe)

    async def ledger(self, name: str) -> SimLedger:
        """The simulator's ledger entries of probe name."""
        return await sim_ledger(self.sim_url, f"{self.wf(name)}/")
