"""Task queue names (CONTRACTS.md) and the optional prefix that gives tests and tenants their own set."""

from __future__ import annotations

WORKFLOWS = "genai-workflows"
INFERENCE = "genai-inference"
IO = "genai-io"
ALL = (WORKFLOWS, INFERENCE, IO)


def queue(name: str, prefix: str = "") -> str:
    """The task queue `name` under a prefix (empty in production: the contract names)."""
    return f"{prefix}{name}"


def sibling(workflow_queue: str, name: str) -> str:
    """The queue `name` beside the queue a workflow runs on, so a prefixed workflow calls prefixed activities.

    Workflows cannot read settings; deriving from their own task queue keeps them deterministic.
    """
    prefix = workflow_queue[: -len(WORKFLOWS)] if workflow_queue.endswith(WORKFLOWS) else ""
    return f"{prefix}{name}"
