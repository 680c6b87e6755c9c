"""The gateway's Prometheus metrics: its own HTTP metrics, plus any collectors registered with `register`.

One registry per process (not the global default, so tests can build several apps). Other parts add collectors
(backlog, pending approvals, dead letters, ...) with `register(collector)`; each is collected on every scrape.
"""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "genai_flow_gateway_requests_total",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "genai_flow_gateway_request_seconds",
    "Time to the response's first byte, by method and route template (SSE: time to the stream's start).",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
STREAMS = Gauge("genai_flow_gateway_event_streams", "SSE event streams open now.", registry=REGISTRY)
JOBS_STARTED = Counter(
    "genai_flow_gateway_jobs_started_total",
    "Jobs submitted through the gateway, by pipeline and whether the Idempotency-Key matched an existing job.",
    ["pipeline", "duplicate"],
    registry=REGISTRY,
)

_registered: list[Collector] = []


def register(collector: Collector) -> None:
    """Add a collector to the gateway's `/metrics` (idempotent per collector object)."""
    if collector not in _registered:
        REGISTRY.register(collector)
        _registered.append(collector)


def metrics_response(_request: Request) -> Response:
    """The Prometheus text exposition of every gateway metric."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


class HTTPMetrics:
    """ASGI middleware counting requests and timing them by route template (never the raw path: ids explode)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                LATENCY.labels(scope["method"], _route(scope)).observe(time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            REQUESTS.labels(scope["method"], _route(scope), str(status)).inc()


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"
