"""What the gateway's /metrics adds for operators: gauges that must be seen while workers are down, and HTTP spans.

The gauges come from the shared stats reader (runtime/stats.py: Temporal server and Redis, never a worker), read
when /metrics is scraped (cached for a second or two, so several scrapers cost one read). Worker-side metrics
(tokens, inference and job latency, cost, SDK slots and schedule-to-start) are on each worker's own port.
Exposition is prometheus-client's; the names are listed in GAUGES.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import UTC, datetime

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Receive, Scope, Send

from runtime.stats import DEFAULT_WINDOW_MIN, StatsReader
from runtime.telemetry import tracer_provider
from schemas.stats import StatsSnapshot

# name -> help; every gauge the collector yields (the dashboard test checks references against these).
GAUGES = {
    "genai_task_queue_backlog": "Tasks waiting in a task queue (DescribeTaskQueue, approximate)",
    "genai_task_queue_backlog_age_seconds": "Age of the oldest waiting task",
    "genai_task_queue_add_rate": "Tasks added per second (server estimate)",
    "genai_task_queue_dispatch_rate": "Tasks dispatched per second (server estimate)",
    "genai_task_queue_pollers": "Workers polling the task queue",
    "genai_jobs_in_flight": "Running jobs per pipeline (visibility)",
    "genai_pending_approvals": "Running jobs waiting for a human (AwaitingApproval=true)",
    "genai_dead_lettered_jobs": "Jobs in the dead-letter queue (DeadLettered=true)",
    "genai_job_latency_window_seconds": "Job latency quantile over the stats window (per-minute counters)",
    "genai_worker_slots_used": "Task slots in use, summed over live workers",
    "genai_worker_slots_available": "Task slots free, summed over live workers",
    "genai_workers": "Live workers reporting slot use",
    "genai_stats_read_errors": "Sources the last stats read could not reach (0 = complete)",
}


def _gauge(name: str, labels: Iterable[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, GAUGES[name], labels=list(labels))


def families(snap: StatsSnapshot) -> list[GaugeMetricFamily]:
    """The gauges of one snapshot."""
    queue_labels = ("task_queue", "task_type")
    backlog, age = (
        _gauge("genai_task_queue_backlog", queue_labels),
        _gauge("genai_task_queue_backlog_age_seconds", queue_labels),
    )
    added, dispatched = (
        _gauge("genai_task_queue_add_rate", queue_labels),
        _gauge("genai_task_queue_dispatch_rate", queue_labels),
    )
    pollers = _gauge("genai_task_queue_pollers", queue_labels)
    for q in snap.queues:
        labels = [q.task_queue, q.task_type]
        backlog.add_metric(labels, q.backlog)
        age.add_metric(labels, q.backlog_age_s)
        added.add_metric(labels, q.add_rate)
        dispatched.add_metric(labels, q.dispatch_rate)
        pollers.add_metric(labels, q.pollers)
    in_flight = _gauge("genai_jobs_in_flight", ["pipeline"])
    latency = _gauge("genai_job_latency_window_seconds", ["pipeline", "quantile"])
    for p in snap.pipelines:
        in_flight.add_metric([p.pipeline], p.in_flight)
        for quantile, value in (("0.5", p.p50_s), ("0.95", p.p95_s)):
            if value is not None:
                latency.add_metric([p.pipeline, quantile], value)
    slot_labels = ("task_queue", "worker_type")
    used, available, workers = (
        _gauge("genai_worker_slots_used", slot_labels),
        _gauge("genai_worker_slots_available", slot_labels),
        _gauge("genai_workers", slot_labels),
    )
    sums: dict[tuple[str, str], list[int]] = {}
    for w in snap.workers:
        entry = sums.setdefault((w.task_queue, w.worker_type), [0, 0, 0])
        entry[0], entry[1], entry[2] = entry[0] + w.used, entry[1] + w.available, entry[2] + 1
    for (task_queue, worker_type), (u, a, n) in sorted(sums.items()):
        used.add_metric([task_queue, worker_type], u)
        available.add_metric([task_queue, worker_type], a)
        workers.add_metric([task_queue, worker_type], n)
    singles = []
    for name, value in (
        ("genai_pending_approvals", snap.pending_approvals),
        ("genai_dead_lettered_jobs", snap.dead_lettered),
        ("genai_stats_read_errors", len(snap.errors)),
    ):
        gauge = _gauge(name)
        gauge.add_metric([], value)
        singles.append(gauge)
    return [backlog, age, added, dispatched, pollers, in_flight, latency, used, available, workers, *singles]


class StatsCollector(Collector):
    """Yields the gauges of the latest snapshot; `refresh()` reads a new one (collect() cannot await)."""

    def __init__(self, reader: Callable[[], Awaitable[StatsReader]], window_minutes: int = DEFAULT_WINDOW_MIN) -> None:
        self.reader = reader
        self.window_minutes = window_minutes
        self.snapshot: StatsSnapshot | None = None

    async def refresh(self) -> None:
        """Read a snapshot (the reader caches for a second or two); a failure is reported as a read error."""
        try:
            self.snapshot = await (await self.reader()).cached(window_minutes=self.window_minutes)
        except Exception as err:  # e.g. Temporal unreachable: /metrics still answers, saying so
            self.snapshot = StatsSnapshot(
                generated_at=datetime.now(UTC), namespace="", window_minutes=self.window_minutes, errors=[str(err)]
            )

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The gauges of the latest snapshot (none before the first refresh)."""
        if self.snapshot is not None:
            yield from families(self.snapshot)


class RefreshStats:
    """ASGI middleware: refresh the collector just before a request to the metrics path is answered."""

    def __init__(self, app: ASGIApp, collector: StatsCollector, path: str = "/metrics") -> None:
        self.app = app
        self.collector = collector
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refresh on a scrape, then pass the request on unchanged."""
        if scope["type"] == "http" and scope["path"] == self.path:
            await self.collector.refresh()
        await self.app(scope, receive, send)


def install_stats(app: FastAPI, collector: StatsCollector, registry: CollectorRegistry) -> None:
    """Serve the collector's gauges on the app's existing /metrics (whose handler exposes `registry`)."""
    registry.register(collector)
    app.add_middleware(RefreshStats, collector=collector)


def instrument_fastapi(app: FastAPI) -> bool:
    """Server spans for every request (the trace context then flows into the workflows they start); False if off."""
    provider = tracer_provider()
    if provider is None:
        return False
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls="metrics,healthz,readyz")
    return True
