"""Dead-letter entries and the job bookkeeping workflows hand to activities."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from schemas.answer import StepUsage
from schemas.jobs import Pipeline


class DeadLetterEntry(BaseModel):
    """Why a job was dead-lettered and how to run it again (kept in Redis, joined with visibility)."""

    job_id: str
    pipeline: Pipeline
    step: str
    attempts: int
    error_type: str
    last_error: str
    input: dict[str, Any]
    failed_at: datetime
    replayed_as: list[str] = Field(default_factory=list)


class FinishJob(BaseModel):
    """A workflow's closing bookkeeping: price the ledger and publish the terminal event."""

    job_id: str
    event: str
    steps: list[StepUsage] = Field(default_factory=list)
    data: dict[str, Any] = Field(default_factory=dict)
    priced_usd: float = Field(0.0, ge=0)  # cost of child jobs that priced their own steps: added, never re-priced
    # When the job was dispatched (the workflow's start): the job latency metric runs from it to the result.
    started_at: datetime | None = None


class FinishedJob(BaseModel):
    """The priced ledger."""

    steps: list[StepUsage]
    cost_usd: float


class DeadLetterRow(BaseModel):
    """One dead-lettered job as `GET /v1/dead-letters` lists it (details missing when Redis lost the entry)."""

    job_id: str
    pipeline: Pipeline | None = None
    step: str | None = None
    reason: str | None = Field(None, description="The failure class and last error that dead-lettered the job.")
    attempts: int | None = None
    at: datetime | None = None
    replayed_as: list[str] = Field(default_factory=list)


class ReplayBody(BaseModel):
    """`POST /v1/dead-letters/{id}/replay`: an edited input, or none for the original one."""

    input: dict[str, Any] | None = None
