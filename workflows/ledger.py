"""Per-job token ledger and the give-up rules shared by every pipeline's workflow (deterministic code only)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, RetryState, TimeoutError

from activities.retry import step_failure
from schemas import search_attributes as sa
from schemas.answer import StepUsage
from schemas.dlq import DeadLetterEntry
from schemas.jobs import Pipeline
from schemas.usage import Usage, total_usage

# Failure types that mean "the step gave up": the job is dead-lettered rather than just failed.
GIVE_UP_TYPES = frozenset({"Permanent", "Transient", "InvalidOutput"})


class TokenLimitExceededError(ApplicationError):
    """The job spent more tokens than its token_limit allows; never retried."""

    def __init__(self, used: int, limit: int) -> None:
        super().__init__(f"token limit exceeded: {used} > {limit}", type="TokenLimitExceeded", non_retryable=True)


class Ledger:
    """Tokens per step and in total; enforces the job's token limit and reports `TokensUsed`."""

    def __init__(self, token_limit: int | None) -> None:
        self.token_limit = token_limit
        self.steps: list[StepUsage] = []

    def add(self, step: str, usage: Usage, started: float) -> None:
        """Record one finished step (started = workflow time in seconds when it began); past the limit, fail."""
        duration_ms = (workflow.time() - started) * 1000
        self.steps.append(StepUsage(step=step, usage=usage, duration_ms=duration_ms))
        used = self.total.total_tokens  # billed plus cached: what the job consumed
        if self.token_limit is not None and used > self.token_limit:
            raise TokenLimitExceededError(used, self.token_limit)

    @property
    def total(self) -> Usage:
        """Usage of all steps so far."""
        return total_usage([s.usage for s in self.steps])

    def publish(self) -> None:
        """Set the `TokensUsed` search attribute (billed tokens).

        Called once as the job closes: every upsert is a visibility write on the server, and short pipelines
        gain nothing from a running figure (B2 measured it at several ms of server CPU per job).
        """
        workflow.upsert_search_attributes([sa.TOKENS_USED.value_set(self.total.billed_tokens)])


def gave_up(err: BaseException) -> tuple[str, int, str] | None:
    """If an activity error means the step gave up, its (error type, attempts, message); else None.

    Throttling never counts toward the attempt threshold, but a step still throttled (or timing out) when its
    deadline passes has given up too: it is dead-lettered as `DeadlineExceeded`, so it can be replayed later.
    """
    if not isinstance(err, ActivityError):
        return None
    failure = step_failure(err)
    if err.retry_state == RetryState.TIMEOUT or isinstance(err.cause, TimeoutError):
        last = failure.last_error if failure else str(err.cause)
        return "DeadlineExceeded", failure.attempts if failure else 0, f"step deadline passed; last error: {last}"
    if failure is not None:
        return failure.type.value, failure.attempts, failure.last_error
    cause = err.cause
    if isinstance(cause, ApplicationError) and (cause.type or "") in GIVE_UP_TYPES:
        return cause.type or "Permanent", 1, cause.message
    return None


def seconds(value: float | None, default: float) -> timedelta:
    """A timedelta from optional seconds."""
    return timedelta(seconds=value if value is not None else default)


async def record_dead_letter(
    pipeline: Pipeline, step: str, verdict: tuple[str, int, str], request: BaseModel
) -> DeadLetterEntry:
    """Record a job's dead letter (in Redis, through a local activity) and flag the run `DeadLettered`."""
    error_type, attempts, message = verdict
    entry = DeadLetterEntry(
        job_id=workflow.info().workflow_id,
        pipeline=pipeline,
        step=step,
        attempts=attempts,
        error_type=error_type,
        last_error=message,
        input=request.model_dump(mode="json", exclude_none=True),
        failed_at=workflow.now(),
    )
    await workflow.execute_local_activity(
        "record_dead_letter", entry, start_to_close_timeout=timedelta(seconds=10), summary=f"dead letter: {step}"
    )
    workflow.upsert_search_attributes([sa.DEAD_LETTERED.value_set(True)])
    return entry


def dead_lettered(entry: DeadLetterEntry) -> ApplicationError:
    """The error a dead-lettered run fails with."""
    return ApplicationError(
        f"dead-lettered at {entry.step} after {entry.attempts} attempt(s): {entry.last_error}", type="DeadLettered"
    )
