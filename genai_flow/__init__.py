"""genai-flow's public Python API: `from genai_flow import GenAIFlowClient, AnswerRequest, Pipeline`.

Installed from the wheel, every package of the project lives under `genai_flow` (`genai_flow.schemas`, …), so it
never clashes with a user's own `workflows/` or `schemas/`; in the repository these names come from the top-level
packages. Exports load lazily, so `genai-flow --help` does not pay for the Temporal client.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AgentRequest",
    "AnswerRequest",
    "ApproveRequest",
    "EventType",
    "GenAIFlowClient",
    "IdempotencyConflictError",
    "IgnoredEvent",
    "IngestJob",
    "JobClosedError",
    "JobForbiddenError",
    "JobInfo",
    "JobNotFoundError",
    "JobStarted",
    "JobStatus",
    "NotAwaitingApprovalError",
    "Pipeline",
    "ProgressEvent",
    "Settings",
    "StreamedText",
    "UpdateNotTakenError",
]


def __getattr__(name: str) -> Any:
    """Import an export on first use."""
    if name in (
        "GenAIFlowClient",
        "IdempotencyConflictError",
        "JobClosedError",
        "JobForbiddenError",
        "JobNotFoundError",
        "NotAwaitingApprovalError",
        "UpdateNotTakenError",
    ):
        from starter import client

        return getattr(client, name)
    if name in ("JobInfo", "JobStarted", "JobStatus", "Pipeline"):
        from schemas import jobs

        return getattr(jobs, name)
    if name in ("EventType", "ProgressEvent"):
        from schemas import events

        return getattr(events, name)
    if name in ("AgentRequest", "ApproveRequest"):
        from schemas import agent

        return getattr(agent, name)
    if name == "IngestJob":
        from schemas.ingest import IngestJob

        return IngestJob
    if name == "IgnoredEvent":
        from schemas.s3events import IgnoredEvent

        return IgnoredEvent
    if name == "AnswerRequest":
        from schemas.answer import AnswerRequest

        return AnswerRequest
    if name == "StreamedText":
        from starter.events import StreamedText

        return StreamedText
    if name == "Settings":
        from runtime.settings import Settings

        return Settings
    raise AttributeError(f"module 'genai_flow' has no attribute {name!r}")
