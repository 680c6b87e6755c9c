"""Failure classes of model calls and the details a step's final failure carries (CONTRACTS.md, "Failures")."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel


class FailureType(StrEnum):
    """`ApplicationError.type` of every failed model call."""

    THROTTLED = "Throttled"  # 429/503: retried honouring Retry-After until the step deadline; never dead-letters
    TRANSIENT = "Transient"  # 408, 409, other 5xx, timeouts, connection errors: counts toward the threshold
    PERMANENT = "Permanent"  # other 4xx, context length, content filter: non-retryable at once
    INVALID_OUTPUT = "InvalidOutput"  # schema-invalid structured output: counts toward the threshold

    @property
    def counts(self) -> bool:
        """True when a failure of this type counts toward the dead-letter threshold."""
        return self in (FailureType.TRANSIENT, FailureType.INVALID_OUTPUT)


class StepFailure(BaseModel):
    """Details (first detail) of the ApplicationError a step fails with for good: what the workflow dead-letters."""

    step: str
    type: FailureType
    attempts: int  # failures that counted toward the threshold (5 when the threshold was reached)
    last_error: str
    status: int | None = None  # HTTP status of the last failure, when there was one
    idempotency_key: str | None = None
