"""Task queue names (CONTRACTS.md) and the optional prefix that gives tests and tenants their own set."""

from __future__ import annotations

from temporalio.common import Priority

WORKFLOWS = "genai-workflows"
INFERENCE = "genai-inference"
IO = "genai-io"
ALL = (WORKFLOWS, INFERENCE, IO)
BULK_PRIORITY = 4  # Temporal's priority keys run 1 (first) to 5; the default is 3
BULK_PIPELINES = frozenset({"ingest"})


def queue(name: str, prefix: str = "") -> str:
    """The task queue `name` under a prefix (empty in production: the contract names)."""
    return f"{prefix}{name}"


def job_priority(pipeline: str, owner: str) -> Priority:
    """The task-queue priority of a job's workflow and activity tasks (activities inherit the workflow's).

    Bulk work (ingestion) goes after interactive work in a backlogged queue, and its tasks are dispatched fairly
    between owner keys (Temporal's fairness key, at most 64 bytes); interactive jobs keep the default.
    """
    if pipeline not in BULK_PIPELINES:
        return Priority.default
    return Priority(priority_key=BULK_PRIORITY, fairness_key=owner.encode()[:64].decode(errors="ignore") or None)


def sibling(workflow_queue: str, name: str) -> str:
    """The queue `name` beside the queue a workflow runs on, so a prefixed workflow calls prefixed activities.

    Workflows cannot read settings; deriving from their own task queue keeps them deterministic.
    """
    prefix = workflow_queue[: -len(WORKFLOWS)] if workflow_queue.endswith(WORKFLOWS) else ""
    return f"{prefix}{name}"
