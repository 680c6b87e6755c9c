"""The answer pipeline's shape with nothing inside: what Temporal alone costs per job, the floor under B2's figures.

`Skeleton` runs AnswerQuestion's steps as it does (one activity, two in parallel, one more, all on a queue of their
own, then a closing local activity), but each activity returns at once: no model, no Redis, no Chroma. Its worker
is built like `genai-flow worker`'s (the same data converter, workflow runner and slot settings), so its CPU per
job is the SDK's share of ours, and the Temporal server's CPU per skeleton job is the server's share that any
worker running this shape pays. B2 starts it as a third side (`python -m bench.sdk_floor READY_FILE`, with the
stack's environment) and records both figures beside the two real sides.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from pathlib import Path

from pydantic import BaseModel
from temporalio import activity, workflow

WORKFLOWS = "skeleton-workflows"
STEPS = "skeleton-steps"
STEP_TIMEOUT = timedelta(seconds=60)


class SkeletonPayload(BaseModel):
    """A question and a few hundred bytes of text, about what a step passes on."""

    question: str
    text: str = ""


@activity.defn(name="skeleton_step")
async def step(payload: SkeletonPayload) -> SkeletonPayload:
    """Returns at once with a short text (a model call's reply, minus the call)."""
    return SkeletonPayload(question=payload.question, text=payload.question * 4)


@activity.defn(name="skeleton_close")
async def close(payload: SkeletonPayload) -> SkeletonPayload:
    """The job's closing bookkeeping, minus the bookkeeping."""
    return SkeletonPayload(question=payload.question)


@workflow.defn(name="Skeleton")
class Skeleton:
    """retrieve → summarize ∥ extract → generate → close, each step empty."""

    def __init__(self) -> None:
        self.queue = ""

    @workflow.run
    async def run(self, req: SkeletonPayload) -> SkeletonPayload:
        """The pipeline's commands and events without its work."""
        self.queue = workflow.info().task_queue.removesuffix(WORKFLOWS) + STEPS
        retrieved = await self._step(req)
        summary, entities = await asyncio.gather(self._step(retrieved), self._step(retrieved))
        answer = await self._step(SkeletonPayload(question=req.question, text=summary.text + entities.text))
        await workflow.execute_local_activity(close, answer, start_to_close_timeout=STEP_TIMEOUT)
        return answer

    async def _step(self, payload: SkeletonPayload) -> SkeletonPayload:
        """One empty step on the steps queue, scheduled as AnswerQuestion schedules a model call."""
        return await workflow.execute_activity(
            step, payload, task_queue=self.queue, start_to_close_timeout=STEP_TIMEOUT
        )


async def serve(ready_file: Path) -> None:
    """Serve both skeleton queues under the settings' prefix until killed; touch ready_file once polling."""
    from temporalio.worker import Worker

    from runtime.settings import get_settings
    from runtime.temporal import connect
    from workers.registry import WORKFLOWS_QUEUE, worker_options

    settings = get_settings()
    client = await connect(settings)
    prefix = settings.task_queue_prefix
    workflows = Worker(
        client,
        task_queue=prefix + WORKFLOWS,
        workflows=[Skeleton],
        activities=[close],
        **worker_options(settings, WORKFLOWS_QUEUE),
    )
    steps = Worker(client, task_queue=prefix + STEPS, activities=[step], **worker_options(settings, STEPS))
    async with workflows, steps:
        await asyncio.to_thread(ready_file.touch)
        await asyncio.Event().wait()


if __name__ == "__main__":  # the workflow sandbox re-imports this module: serve only when run
    asyncio.run(serve(Path(sys.argv[1])))
