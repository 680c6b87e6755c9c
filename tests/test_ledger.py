"""Which activity failures dead-letter a job (workflows/ledger.gave_up), without a server."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ActivityError, ApplicationError, RetryState, TimeoutError, TimeoutType

from schemas.failures import FailureType, StepFailure
from workflows.ledger import gave_up


def activity_error(cause: BaseException, retry_state: RetryState) -> ActivityError:
    err = ActivityError(
        "Activity task failed", scheduled_event_id=5, started_event_id=6, identity="w",
        activity_type="chat", activity_id="1", retry_state=retry_state,
    )  # fmt: skip
    err.__cause__ = cause
    return err


def step_failure(kind: FailureType, attempts: int) -> ApplicationError:
    details = StepFailure(step="generate_answer", type=kind, attempts=attempts, last_error="HTTP 500", status=500)
    return ApplicationError("HTTP 500", details.model_dump(mode="json"), type=kind.value, non_retryable=True)


def test_counting_failures_report_their_attempts() -> None:
    err = activity_error(step_failure(FailureType.TRANSIENT, 5), RetryState.NON_RETRYABLE_FAILURE)
    assert gave_up(err) == ("Transient", 5, "HTTP 500")


def test_permanent_failure_gives_up_at_once() -> None:
    cause = ApplicationError("HTTP 401", type="Permanent", non_retryable=True)
    assert gave_up(activity_error(cause, RetryState.NON_RETRYABLE_FAILURE)) == ("Permanent", 1, "HTTP 401")


@pytest.mark.parametrize(
    "cause",
    [
        ApplicationError("HTTP 429", type="Throttled"),
        TimeoutError("activity timeout", type=TimeoutType.SCHEDULE_TO_CLOSE, last_heartbeat_details=[]),
    ],
)
def test_a_step_still_failing_at_its_deadline_is_dead_lettered_as_deadline_exceeded(cause: BaseException) -> None:
    verdict = gave_up(activity_error(cause, RetryState.TIMEOUT))
    assert verdict is not None and verdict[0] == "DeadlineExceeded" and "deadline" in verdict[2]


@pytest.mark.parametrize(
    "err",
    [
        activity_error(
            ApplicationError("empty", type="EmptyCollection", non_retryable=True), RetryState.NON_RETRYABLE_FAILURE
        ),
        ApplicationError("token limit exceeded", type="TokenLimitExceeded", non_retryable=True),
        ValueError("not an activity error"),
    ],
)
def test_other_failures_are_plain_job_failures(err: BaseException) -> None:
    assert gave_up(err) is None
