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
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from gateway.metrics import register
from runtime.settings import Settings
from runtime.stats import DEFAULT_WINDOW_MIN, StatsReader
from runtime.telemetry import setup_tracing, tracer_provider
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
    "genai_router_window_requests": "Requests counted in a models-file endpoint's current window",
    "genai_router_window_tokens": "Tokens counted in a models-file endpoint's current window",
    "genai_router_limit_rpm": "The endpoint's requests-per-window limit",
    "genai_router_limit_tpm": "The endpoint's tokens-per-window limit",
    "genai_router_in_flight": "Calls in flight at the endpoint, over every worker",
    "genai_router_throttled": "Calls told to wait for the endpoint's capacity (never sent; counter since start)",
    "genai_router_throttled_wait_seconds": "Sum of the waits throttled calls were given",
    "genai_router_failovers_in": "Calls the endpoint served for an endpoint listed before it",
    "genai_router_provider_429": "429s the endpoint itself answered",
    "genai_router_breaker_open": "The endpoint's circuit breaker: 0 closed, 0.5 half open, 1 open",
}


def _gauge(name: str, labels: Iterable[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, GAUGES[name], labels=list(labels))


def _queue_families(snap: StatsSnapshot) -> list[GaugeMetricFamily]:
    labels = ("task_queue", "task_type")
    fields = {
        "genai_task_queue_backlog": "backlog",
        "genai_task_queue_backlog_age_seconds": "backlog_age_s",
        "genai_task_queue_add_rate": "add_rate",
        "genai_task_queue_dispatch_rate": "dispatch_rate",
        "genai_task_queue_pollers": "pollers",
    }
    found = []
    for name, field in fields.items():
        gauge = _gauge(name, labels)
        for q in snap.queues:
            gauge.add_metric([q.task_queue, q.task_type], getattr(q, field))
        found.append(gauge)
    return found


def _pipeline_families(snap: StatsSnapshot) -> list[GaugeMetricFamily]:
    in_flight = _gauge("genai_jobs_in_flight", ["pipeline"])
    latency = _gauge("genai_job_latency_window_seconds", ["pipeline", "quantile"])
    for p in snap.pipelines:
        in_flight.add_metric([p.pipeline], p.in_flight)
        for quantile, value in (("0.5", p.p50_s), ("0.95", p.p95_s)):
            if value is not None:
                latency.add_metric([p.pipeline, quantile], value)
    return [in_flight, latency]


def _worker_families(snap: StatsSnapshot) -> list[GaugeMetricFamily]:
    # Summed over workers: one series per queue and slot type, however many replicas run.
    sums: dict[tuple[str, str], tuple[int, int, int]] = {}
    for w in snap.workers:
        used, available, count = sums.get((w.task_queue, w.worker_type), (0, 0, 0))
        sums[(w.task_queue, w.worker_type)] = (used + w.used, available + w.available, count + 1)
    names = ("genai_worker_slots_used", "genai_worker_slots_available", "genai_workers")
    gauges = [_gauge(name, ("task_queue", "worker_type")) for name in names]
    for labels, values in sorted(sums.items()):
        for gauge, value in zip(gauges, values, strict=True):
            gauge.add_metric(list(labels), value)
    return gauges


def _endpoint_families(snap: StatsSnapshot) -> list[GaugeMetricFamily]:
    fields = {
        "genai_router_window_requests": "requests",
        "genai_router_window_tokens": "tokens",
        "genai_router_limit_rpm": "rpm",
        "genai_router_limit_tpm": "tpm",
        "genai_router_in_flight": "in_flight",
        "genai_router_throttled": "throttled",
        "genai_router_throttled_wait_seconds": "throttled_wait_s",
        "genai_router_failovers_in": "failovers_in",
        "genai_router_provider_429": "provider_429",
        "genai_router_breaker_open": "breaker",
    }
    found = []
    for name, field in fields.items():
        gauge = _gauge(name, ["endpoint"])
        for e in snap.endpoints:
            value = getattr(e, field)
            if field == "breaker":
                value = {"closed": 0, "half_open": 0.5, "open": 1}[value]
            if value is not None:
                gauge.add_metric([e.endpoint], value)
        found.append(gauge)
    return found


def families(snap: StatsSnapshot) -> list[GaugeMetricFamily]:
    """The gauges of one snapshot."""
    singles = []
    for name, value in (
        ("genai_pending_approvals", snap.pending_approvals),
        ("genai_dead_lettered_jobs", snap.dead_lettered),
        ("genai_stats_read_errors", len(snap.errors)),
    ):
        gauge = _gauge(name)
        gauge.add_metric([], value)
        singles.append(gauge)
    return [*_queue_families(snap), *_pipeline_families(snap), *_worker_families(snap), *_endpoint_families(snap),
            *singles]  # fmt: skip


class StatsCollector(Collector):
    """Yields the gauges of the latest snapshot; `refresh()` reads a new one (collect() cannot await)."""

    def __init__(self, window_minutes: int = DEFAULT_WINDOW_MIN) -> None:
        self.window_minutes = window_minutes
        self.snapshot: StatsSnapshot | None = None

    async def refresh(self, reader: Callable[[], Awaitable[StatsReader]]) -> None:
        """Read a snapshot (the reader caches for a second or two); a failure is reported as a read error."""
        try:
            self.snapshot = await (await reader()).cached(window_minutes=self.window_minutes)
        except Exception as err:  # e.g. Temporal unreachable: /metrics still answers, saying so
            self.snapshot = StatsSnapshot(
                generated_at=datetime.now(UTC), namespace="", window_minutes=self.window_minutes, errors=[str(err)]
            )

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The gauges of the latest snapshot (none before the first refresh)."""
        if self.snapshot is not None:
            yield from families(self.snapshot)


# One per process, like the gateway's registry it joins (tests build several apps; each refreshes it on a scrape).
STATS = StatsCollector()


async def gateway_reader(app: FastAPI) -> StatsReader:
    """The app's StatsReader, built on first use from its Gateway (the one client and Redis connection)."""
    reader: StatsReader | None = getattr(app.state, "stats_reader", None)
    if reader is None:
        gw = app.state.gateway
        flow = await gw.flow()
        reader = app.state.stats_reader = StatsReader(flow.temporal, gw.redis, gw.settings)
    return reader


def install_observability(app: FastAPI, settings: Settings) -> None:
    """Stats gauges on the gateway's /metrics and, when tracing is on, a server span per request."""
    register(STATS)  # refreshed by the /metrics route (routes_ops), just before it renders
    setup_tracing(settings, service_name="genai-flow-gateway")
    instrument_fastapi(app)


def instrument_fastapi(app: FastAPI) -> bool:
    """Server spans for every request (the trace context then flows into the workflows they start); False if off."""
    provider = tracer_provider()
    if provider is None:
        return False
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls="metrics,healthz,readyz")
    return True
