"""Retry defaults and activity options for inference steps; safe to import from workflow code (no I/O).

Temporal's `maximum_attempts` counts every attempt, throttled ones included, so it cannot express "5 counting
failures, but throttling only until a deadline". Instead the policy retries without an attempt limit,
`schedule_to_close_timeout` is the step deadline, and the activity counts its own Transient/InvalidOutput
failures (in heartbeat details, which survive a failed attempt), sets `next_retry_delay` on every failure and
raises non-retryable on the MAX_ATTEMPTS-th counting failure with `StepFailure` details (docs/resilience.md).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Protocol

from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from schemas.failures import FailureType, StepFailure

MAX_ATTEMPTS = 5  # counting failures (Transient, InvalidOutput) before a step dead-letters
INITIAL_INTERVAL = timedelta(seconds=1)
BACKOFF = 2.0
MAX_INTERVAL = timedelta(seconds=60)
DEFAULT_STEP_DEADLINE_S = 600.0  # throttling is retried until this long after the step was scheduled
STEP_DEADLINE = timedelta(seconds=DEFAULT_STEP_DEADLINE_S)
INFERENCE_TIMEOUT = timedelta(seconds=120)  # one model call, end to end (the client's own timeout)
HEARTBEAT_TIMEOUT = timedelta(seconds=6)  # also the lease of the never-pay-twice lock, and a crashed step's wait
# Room on top of the call for waiting on another attempt's lock (until it goes stale) and for storing the result.
_LOCK_AND_STORE_MARGIN = timedelta(seconds=10)


class TimeoutSettings(Protocol):
    """What inference_activity_options reads from `runtime.settings.Settings` (or any look-alike)."""

    @property
    def step_deadline_s(self) -> float: ...

    @property
    def inference_timeout_s(self) -> float: ...


def inference_retry_policy(
    initial_interval: timedelta = INITIAL_INTERVAL, maximum_interval: timedelta = MAX_INTERVAL
) -> RetryPolicy:
    """Unlimited attempts (the deadline and the activity's own count bound them), 1 s x 2 up to 60 s."""
    return RetryPolicy(
        initial_interval=initial_interval,
        backoff_coefficient=BACKOFF,
        maximum_interval=maximum_interval,
        maximum_attempts=0,
        non_retryable_error_types=[FailureType.PERMANENT.value],
    )


def inference_activity_options(
    deadline: TimeoutSettings | timedelta | float | None = None,
    *,
    step_deadline: timedelta | None = None,
    inference_timeout: timedelta | None = None,
    heartbeat_timeout: timedelta = HEARTBEAT_TIMEOUT,
    initial_interval: timedelta = INITIAL_INTERVAL,
    maximum_interval: timedelta = MAX_INTERVAL,
) -> dict[str, Any]:
    """Keyword arguments for `workflow.execute_activity` of chat/structured/embed: timeouts and retry policy.

    `deadline` is the step deadline (a timedelta or seconds) or a settings-like object with `step_deadline_s` and
    `inference_timeout_s`. Keyword arguments win over it, and it wins over the module defaults.
    """
    settings: TimeoutSettings | None = None
    if isinstance(deadline, timedelta):
        step_deadline = step_deadline or deadline
    elif isinstance(deadline, int | float):
        step_deadline = step_deadline or timedelta(seconds=deadline)
    else:
        settings = deadline
    if step_deadline is None:
        step_deadline = timedelta(seconds=settings.step_deadline_s) if settings else STEP_DEADLINE
    if inference_timeout is None:
        inference_timeout = timedelta(seconds=settings.inference_timeout_s) if settings else INFERENCE_TIMEOUT
    start_to_close = inference_timeout + heartbeat_timeout + _LOCK_AND_STORE_MARGIN
    return {
        "start_to_close_timeout": start_to_close,
        "heartbeat_timeout": heartbeat_timeout,
        # The deadline wins over a single attempt's timeout; the activity shortens its call to fit what is left.
        "schedule_to_close_timeout": step_deadline,
        "retry_policy": inference_retry_policy(initial_interval, maximum_interval),
    }


def backoff_delay(failures: int, policy: RetryPolicy | None = None) -> timedelta:
    """The pause after the n-th counting failure: initial x backoff^(n-1), capped (1, 2, 4, ... 60 s by default)."""
    initial = policy.initial_interval if policy and policy.initial_interval else INITIAL_INTERVAL
    coefficient = policy.backoff_coefficient if policy and policy.backoff_coefficient else BACKOFF
    maximum = policy.maximum_interval if policy and policy.maximum_interval else MAX_INTERVAL
    seconds = initial.total_seconds() * coefficient ** max(failures - 1, 0)
    return min(timedelta(seconds=seconds), maximum)


def step_failure(exc: BaseException) -> StepFailure | None:
    """The StepFailure details of an activity's final failure (for the dead-letter entry), if it carries them."""
    cause = exc.cause if isinstance(exc, ActivityError) else exc
    if not isinstance(cause, ApplicationError) or not cause.details:
        return None
    detail = cause.details[0]
    if isinstance(detail, StepFailure):
        return detail
    if isinstance(detail, dict) and "step" in detail and "attempts" in detail:
        return StepFailure.model_validate(detail)
    return None
