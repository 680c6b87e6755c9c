"""OpenTelemetry tracing: off unless OTEL_EXPORTER_OTLP_ENDPOINT is set; then OTLP/HTTP export and Temporal spans."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from runtime.settings import Settings, get_settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from temporalio.client import Interceptor

# The SDK and exporter are imported only when tracing is on: every CLI command connects to Temporal, and most
# never trace.
_lock = threading.Lock()
_provider: TracerProvider | None = None


def traces_endpoint(base: str) -> str:
    """The OTLP/HTTP traces URL for a base endpoint (the spec appends /v1/traces to the generic variable)."""
    base = base.rstrip("/")
    return base if base.endswith("/v1/traces") else f"{base}/v1/traces"


def setup_tracing(settings: Settings | None = None, service_name: str = "genai-flow") -> bool:
    """Install an OTLP-exporting tracer provider once per process; False (and nothing done) when not configured."""
    global _provider
    settings = settings or get_settings()
    if not settings.otel_endpoint:
        return False
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    with _lock:
        if _provider is None:
            provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service_name}))
            provider.add_span_processor(
                BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_endpoint(settings.otel_endpoint)))
            )
            trace.set_tracer_provider(provider)
            _provider = provider
    return True


def temporal_interceptors(settings: Settings | None = None) -> list[Interceptor]:
    """Temporal client interceptors: a TracingInterceptor when tracing is on (workers inherit client ones)."""
    if not setup_tracing(settings):
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor()]


def shutdown_tracing() -> None:
    """Flush and stop the exporter (call before the process exits so the last spans are sent)."""
    global _provider
    with _lock:
        if _provider is not None:
            _provider.shutdown()
            _provider = None
