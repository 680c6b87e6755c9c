"""Job status and pipeline names (CONTRACTS.md), free of pydantic: `genai-flow --help` builds options from them.

Import them from `schemas.jobs` as everyone does; this module exists only to keep that import cheap for the CLI.
"""

from __future__ import annotations

from enum import StrEnum


class Pipeline(StrEnum):
    """The pipelines genai-flow runs; the value is the `GenAIPipeline` search attribute."""

    ANSWER = "answer"
    INGEST = "ingest"
    AGENT = "agent"


class JobStatus(StrEnum):
    """User-facing job status derived from Temporal's describe() and search attributes."""

    QUEUED = "queued"
    RUNNING = "running"
    AWAITING_APPROVAL = "awaiting_approval"
    COMPLETED = "completed"
    DEAD_LETTERED = "dead_lettered"
    FAILED = "failed"

    @property
    def closed(self) -> bool:
        """True once the job can no longer change."""
        return self in (JobStatus.COMPLETED, JobStatus.DEAD_LETTERED, JobStatus.FAILED)
