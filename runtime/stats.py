"""One reader of what operators watch, shared by `genai-flow stats` and the gateway's /metrics.

It reads only the Temporal server and Redis, never a worker, so every number is there while workers are down:
- backlog count and age per task queue: DescribeTaskQueue with stats,
- in-flight jobs per pipeline, pending approvals, DLQ size: visibility counts (search attributes),
- p50/p95 latency per pipeline and tokens/cost per model over a window: the per-minute counters the
  job-closing activity writes (runtime/jobstats.py),
- worker slot utilisation: what live workers report (workers/utilisation.py),
- each models-file endpoint's use of its limits, throttled waits, breaker and failovers (runtime/router_stats.py).
A source that fails is named in `errors` and the rest of the snapshot is still returned.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import TypeVar

import redis.asyncio
from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from runtime.jobstats import JobStatsStore, WindowStats
from runtime.keys import RedisKeys
from runtime.router_stats import endpoint_stats
from runtime.settings import Settings
from schemas import queues
from schemas.jobs import Pipeline
from schemas.stats import PipelineStats, QueueStats, StatsSnapshot, WorkerSlots

T = TypeVar("T")
TASK_TYPES = {"workflow": TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, "activity": TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY}
DEFAULT_WINDOW_MIN = 15
PENDING_APPROVALS = "AwaitingApproval = true AND ExecutionStatus = 'Running'"


class StatsReader:
    """Builds StatsSnapshots for one namespace and queue prefix; `cached()` bounds the load of frequent scrapes."""

    def __init__(self, temporal: Client, redis_client: redis.asyncio.Redis, settings: Settings) -> None:
        self.temporal = temporal
        self.redis = redis_client
        self.settings = settings
        self.keys = RedisKeys.of(settings)
        self._last: tuple[float, int, StatsSnapshot] | None = None
        self._lock = asyncio.Lock()

    async def cached(self, max_age_s: float = 2.0, window_minutes: int = DEFAULT_WINDOW_MIN) -> StatsSnapshot:
        """A snapshot no older than max_age_s (concurrent callers share one read)."""
        async with self._lock:
            if self._last and self._last[1] == window_minutes and time.monotonic() - self._last[0] < max_age_s:
                return self._last[2]
            snap = await self.snapshot(window_minutes)
            self._last = (time.monotonic(), window_minutes, snap)
            return snap

    async def snapshot(self, window_minutes: int = DEFAULT_WINDOW_MIN) -> StatsSnapshot:
        """Read every source at once."""
        errors: list[str] = []
        # Two gathers: asyncio.gather keeps its result types for at most six awaitables.
        (queue_rows, in_flight, pending, dead, window, workers), endpoints = await asyncio.gather(
            asyncio.gather(
                self._guard("task queues", self.queue_stats(), [], errors),
                self._guard("visibility", self.in_flight(), {}, errors),
                self._guard("visibility", self._count(PENDING_APPROVALS), 0, errors),
                self._guard("visibility", self._count("DeadLettered = true"), 0, errors),
                self._guard(
                    "redis", JobStatsStore(self.redis, self.keys).window(window_minutes), WindowStats(), errors
                ),
                self._guard("redis", self.worker_slots(), [], errors),
            ),
            self._guard("router", endpoint_stats(self.redis, self.settings), [], errors),
        )
        pipelines = []
        for pipeline in Pipeline:
            row = window.pipelines.get(pipeline.value) or PipelineStats(pipeline=pipeline.value)
            row.in_flight = in_flight.get(pipeline.value, 0)
            pipelines.append(row)
        return StatsSnapshot(
            generated_at=datetime.now(UTC),
            namespace=self.temporal.namespace,
            task_queue_prefix=self.settings.task_queue_prefix,
            window_minutes=window_minutes,
            queues=queue_rows,
            pipelines=pipelines,
            models=sorted(window.models.values(), key=lambda m: m.model),
            workers=workers,
            endpoints=endpoints,
            pending_approvals=pending,
            dead_lettered=dead,
            errors=sorted(set(errors)),
        )

    @staticmethod
    async def _guard(source: str, read: Awaitable[T], default: T, errors: list[str]) -> T:
        try:
            return await read
        except Exception as err:  # any failing source leaves the rest of the snapshot usable
            errors.append(f"{source}: {err}")
            return default

    async def queue_stats(self) -> list[QueueStats]:
        """Backlog per task queue: workflow tasks of genai-workflows, activity tasks of the others (and any other
        combination that has a backlog or pollers, e.g. activities run beside a workflow)."""
        names = [queues.queue(name, self.settings.task_queue_prefix) for name in queues.ALL]
        pairs = [(name, kind) for name in names for kind in TASK_TYPES]
        rows = await asyncio.gather(*(self._describe(name, kind) for name, kind in pairs))
        workflows_queue = names[0]
        return [
            row
            for row in rows
            if (row.task_type == "workflow") == (row.task_queue == workflows_queue) or row.backlog or row.pollers
        ]

    async def _describe(self, task_queue: str, kind: str) -> QueueStats:
        response = await self.temporal.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=self.temporal.namespace,
                task_queue=TaskQueue(name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
                task_queue_type=TASK_TYPES[kind],
                report_stats=True,
            )
        )
        stats = response.stats
        return QueueStats(
            task_queue=task_queue,
            task_type="workflow" if kind == "workflow" else "activity",
            backlog=max(0, stats.approximate_backlog_count),
            backlog_age_s=max(0.0, stats.approximate_backlog_age.ToTimedelta().total_seconds()),
            add_rate=max(0.0, stats.tasks_add_rate),
            dispatch_rate=max(0.0, stats.tasks_dispatch_rate),
            pollers=len(response.pollers),
        )

    def _scoped(self, query: str) -> str:
        # The prefix's own workflows only: tenants and tests sharing a namespace never see each other's jobs.
        workflows_queue = queues.queue(queues.WORKFLOWS, self.settings.task_queue_prefix)
        return f"{query} AND TaskQueue = '{workflows_queue}'"

    async def _count(self, query: str) -> int:
        return (await self.temporal.count_workflows(self._scoped(query))).count

    async def in_flight(self) -> dict[str, int]:
        """Running jobs per pipeline."""
        counts = await asyncio.gather(
            *(self._count(f"GenAIPipeline = '{p.value}' AND ExecutionStatus = 'Running'") for p in Pipeline)
        )
        return {p.value: count for p, count in zip(Pipeline, counts, strict=True)}

    async def worker_slots(self) -> list[WorkerSlots]:
        """Slot use of every live worker (reports expire when a worker stops)."""
        found: list[WorkerSlots] = []
        prefix_len = len(self.keys.worker_slots(""))
        ours = {queues.queue(name, self.settings.task_queue_prefix) for name in queues.ALL}
        async for key in self.redis.scan_iter(match=self.keys.worker_slots_pattern(), count=500):
            report: dict[str, str] = await self.redis.hgetall(key)  # type: ignore[assignment]  # decode_responses=True
            for field, value in report.items():
                task_queue, _, worker_type = field.partition("|")
                if task_queue not in ours:
                    continue
                used, _, available = value.partition("/")
                total = int(used) + int(available)
                found.append(
                    WorkerSlots(
                        worker=key[prefix_len:],
                        task_queue=task_queue,
                        worker_type=worker_type,
                        used=int(used),
                        available=int(available),
                        utilisation=int(used) / total if total else 0.0,
                    )
                )
        return sorted(found, key=lambda w: (w.task_queue, w.worker_type, w.worker))
