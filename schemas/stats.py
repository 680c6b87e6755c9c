"""`genai-flow stats --json` and the gateway's /metrics gauges: one snapshot of the system (docs/observability.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class QueueStats(BaseModel):
    """Backlog of one task queue and task type, from DescribeTaskQueue with stats."""

    task_queue: str
    task_type: Literal["workflow", "activity"]
    backlog: int = Field(0, ge=0, description="approximate tasks waiting to be dispatched")
    backlog_age_s: float = Field(0.0, ge=0, description="age of the oldest waiting task")
    add_rate: float = Field(0.0, ge=0, description="tasks added per second (server's recent estimate)")
    dispatch_rate: float = Field(0.0, ge=0, description="tasks dispatched per second")
    pollers: int = Field(0, ge=0, description="workers polling it recently")


class PipelineStats(BaseModel):
    """Jobs of one pipeline: running now, and closed within the window with their latency."""

    pipeline: str
    in_flight: int = Field(0, ge=0, description="running now (visibility)")
    completed: int = Field(0, ge=0)
    failed: int = Field(0, ge=0)
    dead_lettered: int = Field(0, ge=0)
    p50_s: float | None = Field(None, description="median dispatch-to-result latency in the window")
    p95_s: float | None = None


class ModelStats(BaseModel):
    """Tokens and cost of one model over the window (jobs closed within it)."""

    model: str
    prompt_tokens: int = Field(0, ge=0)
    completion_tokens: int = Field(0, ge=0)
    billed_tokens: int = Field(0, ge=0)
    cached_tokens: int = Field(0, ge=0, description="served from the store or cache, not billed")
    cost_usd: float = Field(0.0, ge=0)


class WorkerSlots(BaseModel):
    """Slot use of one worker process on one task queue (reported by the worker every few seconds)."""

    worker: str = Field(description="worker identity (pid@host)")
    task_queue: str
    worker_type: str = Field(description="WorkflowWorker, ActivityWorker or LocalActivityWorker")
    used: int = Field(0, ge=0)
    available: int = Field(0, ge=0)
    utilisation: float = Field(0.0, ge=0, le=1, description="used / (used + available)")


class EndpointStats(BaseModel):
    """One endpoint of the models file: its use of its limits now, and its router counters since they started."""

    endpoint: str
    rpm: int | None = None
    tpm: int | None = None
    max_concurrency: int | None = None
    requests: int = Field(0, ge=0, description="requests counted in the current window")
    tokens: int = Field(0, ge=0, description="tokens counted in the current window")
    in_flight: int = Field(0, ge=0)
    breaker: Literal["closed", "open", "half_open"] = "closed"
    paused_s: float = Field(0.0, ge=0, description="left of a pause a provider 429 ordered")
    served: int = Field(0, ge=0, description="calls served")
    throttled: int = Field(0, ge=0, description="calls told to wait for capacity (never sent)")
    throttled_wait_s: float = Field(0.0, ge=0, description="sum of the waits those calls were given")
    failovers_in: int = Field(0, ge=0, description="calls it served for an endpoint listed before it")
    provider_429: int = Field(0, ge=0)
    failures: int = Field(0, ge=0, description="5xx, refused connections and timeouts")
    breaker_opened: int = Field(0, ge=0)


class StatsSnapshot(BaseModel):
    """What an operator watches: queue depth, in-flight jobs, latency, tokens and cost, utilisation, HITL, DLQ."""

    generated_at: datetime
    namespace: str
    task_queue_prefix: str = ""
    window_minutes: int = Field(ge=1)
    queues: list[QueueStats] = Field(default_factory=list)
    pipelines: list[PipelineStats] = Field(default_factory=list)
    models: list[ModelStats] = Field(default_factory=list)
    workers: list[WorkerSlots] = Field(default_factory=list)
    endpoints: list[EndpointStats] = Field(default_factory=list, description="the models file's endpoints (if set)")
    pending_approvals: int = Field(0, ge=0, description="running jobs with AwaitingApproval=true")
    dead_lettered: int = Field(0, ge=0, description="jobs with DeadLettered=true (the DLQ)")
    errors: list[str] = Field(default_factory=list, description="sources that could not be read (partial snapshot)")

    @property
    def backlog(self) -> int:
        """Tasks waiting over all queues."""
        return sum(q.backlog for q in self.queues)

    @property
    def in_flight(self) -> int:
        """Running jobs over all pipelines."""
        return sum(p.in_flight for p in self.pipelines)
