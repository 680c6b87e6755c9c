"""Progress events of a job (CONTRACTS.md, "Progress events"): one Redis Stream per job, relayed as SSE."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class EventType(StrEnum):
    """Every event type a job's stream may carry (the SSE `event` field)."""

    STEP_STARTED = "step.started"
    STEP_COMPLETED = "step.completed"
    STEP_RETRYING = "step.retrying"  # `{attempt}`, before a retry's first token: drop the step's partial text
    TOKEN = "token"  # noqa: S105 - an event name, not a secret
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    JOB_COMPLETED = "job.completed"
    JOB_FAILED = "job.failed"
    JOB_DEAD_LETTERED = "job.dead_lettered"
    SNAPSHOT = "snapshot"

    @property
    def terminal(self) -> bool:
        """True for the one event that closes a job's stream."""
        return self in (EventType.JOB_COMPLETED, EventType.JOB_FAILED, EventType.JOB_DEAD_LETTERED)


# Stream entry field holding the event's JSON; the entry also carries `type` so readers can filter cheaply.
STREAM_FIELD = "event"


def _now() -> datetime:
    return datetime.now(UTC)


class ProgressEvent(BaseModel):
    """One progress event; SSE sends `event: <type>`, `data: <this JSON>`, `id: <stream id>`."""

    type: EventType
    job_id: str
    step: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    at: datetime = Field(default_factory=_now)

    def to_stream_fields(self) -> dict[str, str]:
        """The Redis Stream entry for this event."""
        return {"type": self.type.value, STREAM_FIELD: self.model_dump_json()}

    @classmethod
    def from_stream_fields(cls, fields: dict[str, str] | dict[bytes, bytes]) -> ProgressEvent:
        """Decode a Redis Stream entry written by `to_stream_fields` (str or bytes responses)."""
        for key, value in fields.items():
            name = key.decode() if isinstance(key, bytes) else key
            if name == STREAM_FIELD:
                return cls.model_validate_json(value)
        raise ValueError(f"stream entry has no {STREAM_FIELD!r} field")


class PublishEventInput(BaseModel):
    """Input of the `publish_event` activity: workflows emit job-level events through it (they cannot touch Redis)."""

    job_id: str
    type: EventType
    step: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
