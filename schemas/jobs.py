"""Job-level shapes shared by the client, CLI and gateway (CONTRACTS.md, "Job status" and "HTTP")."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

# The two enums live apart so the CLI can build its options from them without importing pydantic.
from schemas.job_enums import JobStatus as JobStatus
from schemas.job_enums import Pipeline as Pipeline
from schemas.usage import Usage

WORKFLOW_TYPES: dict[Pipeline, str] = {
    Pipeline.ANSWER: "AnswerQuestion",
    Pipeline.INGEST: "IngestDocument",
    Pipeline.AGENT: "AgentRun",
}


class ErrorKind(StrEnum):
    """Why a job failed."""

    FAILED = "failed"
    DEAD_LETTERED = "dead_lettered"
    TERMINATED = "terminated"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"


class JobError(BaseModel):
    """A failed job's error."""

    kind: ErrorKind
    message: str = ""
    type: str | None = None


class StepInfo(BaseModel):
    """One pipeline step as seen from the job's history."""

    name: str
    status: str
    attempts: int = 0
    started_at: datetime | None = None
    closed_at: datetime | None = None


class JobStarted(BaseModel):
    """What starting a job returns (202 body, `--json` output of a start)."""

    job_id: str
    status_url: str
    events_url: str
    duplicate: bool = False


class JobInfo(BaseModel):
    """A job's state: `GET /v1/jobs/{id}`, `genai-flow status --json`."""

    job_id: str
    pipeline: Pipeline | None = None
    status: JobStatus
    outcome: str | None = None
    result: dict[str, Any] | None = None
    error: JobError | None = None
    usage: Usage = Field(default_factory=Usage)
    steps: list[StepInfo] = Field(default_factory=list)
    created_at: datetime | None = None
    closed_at: datetime | None = None
