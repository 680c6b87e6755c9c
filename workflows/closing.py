"""How a pipeline's run closes: the terminal event with the priced ledger, or a dead letter (deterministic code).

Every pipeline closes through `JobCloser`, so the terminal event, the ledger and the dead-letter rule are one code.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ActivityError

from schemas.dlq import FinishedJob, FinishJob
from schemas.jobs import Pipeline
from workflows.ledger import Ledger, dead_lettered, gave_up, record_dead_letter

BOOKKEEPING = timedelta(seconds=10)


class JobCloser:
    """Publishes a run's terminal event (`finish_job`) and records dead letters (`record_dead_letter`)."""

    def __init__(self, pipeline: Pipeline, ledger: Ledger) -> None:
        self.pipeline = pipeline
        self.ledger = ledger
        self.failed_step = ""

    def failed(self, step: str) -> None:
        """Remember the first step that failed (parallel steps: the first names the dead letter)."""
        self.failed_step = self.failed_step or step

    async def fail(self, request: BaseModel, err: BaseException) -> None:
        """Publish `job.failed`; or, when a step gave up, record the dead letter, flag the run, raise DeadLettered."""
        verdict = gave_up(err)
        if verdict is None:
            cause = err.cause if isinstance(err, ActivityError) and err.cause else err
            await self.finish("job.failed", {"error": str(cause)})
            return
        entry = await record_dead_letter(self.pipeline, self.failed_step, verdict, request)
        await self.finish(
            "job.dead_lettered", entry.model_dump(mode="json", include={"step", "attempts", "last_error"})
        )
        raise dead_lettered(entry) from err

    async def finish(self, event: str, data: dict[str, Any]) -> FinishedJob:
        """Price the ledger and publish the terminal event (a local activity: workflows cannot touch Redis)."""
        self.ledger.publish()
        info = workflow.info()
        # started_at spares finish_job a describe call to time the job (dispatch -> result stored).
        job = FinishJob(
            job_id=info.workflow_id, event=event, steps=self.ledger.steps, data=data, started_at=info.start_time
        )
        finished: FinishedJob = await workflow.execute_local_activity(
            "finish_job", job, result_type=FinishedJob, start_to_close_timeout=BOOKKEEPING, summary=event
        )
        return finished
