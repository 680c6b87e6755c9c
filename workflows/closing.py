"""How a pipeline's run closes: the terminal event with the priced ledger, or a dead letter (deterministic code).

AnswerQuestion predates this module and keeps its own copy of the same steps (its recorded histories pin them);
new pipelines close through `JobCloser`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from schemas import search_attributes as sa
from schemas.dlq import DeadLetterEntry, FinishedJob, FinishJob
from schemas.jobs import Pipeline
from workflows.ledger import Ledger, gave_up

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
        error_type, attempts, message = verdict
        entry = DeadLetterEntry(
            job_id=workflow.info().workflow_id,
            pipeline=self.pipeline,
            step=self.failed_step,
            attempts=attempts,
            error_type=error_type,
            last_error=message,
            input=request.model_dump(mode="json", exclude_none=True),
            failed_at=workflow.now(),
        )
        await workflow.execute_local_activity(
            "record_dead_letter", entry, start_to_close_timeout=BOOKKEEPING, summary=f"dead letter: {self.failed_step}"
        )
        workflow.upsert_search_attributes([sa.DEAD_LETTERED.value_set(True)])
        await self.finish(
            "job.dead_lettered", entry.model_dump(mode="json", include={"step", "attempts", "last_error"})
        )
        raise ApplicationError(
            f"dead-lettered at {self.failed_step} after {attempts} attempt(s): {message}", type="DeadLettered"
        ) from err

    async def finish(self, event: str, data: dict[str, Any]) -> FinishedJob:
        """Price the ledger and publish the terminal event (a local activity: workflows cannot touch Redis)."""
        self.ledger.publish()
        job = FinishJob(job_id=workflow.info().workflow_id, event=event, steps=self.ledger.steps, data=data)
        finished: FinishedJob = await workflow.execute_local_activity(
            "finish_job", job, result_type=FinishedJob, start_to_close_timeout=BOOKKEEPING, summary=event
        )
        return finished
