"""OpenTelemetry tracing, off by default: `OTEL_TRACES_EXPORTER=otlp|console|none` picks the exporter.

With `otlp` the exporter reads the standard `OTEL_EXPORTER_OTLP_*` variables itself (endpoint, headers, protocol,
timeout); `OTEL_SERVICE_NAME` / `OTEL_RESOURCE_ATTRIBUTES` name the resource. When tracing is on, every Temporal
client gets temporalio's TracingInterceptor, and workers inherit it from their client: one trace runs from the
caller's span (an HTTP request in the gateway) through StartWorkflow, RunWorkflow and each activity.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from runtime.settings import Settings, get_settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from temporalio.client import Interceptor

# The SDK and exporters are imported only when tracing is on: every CLI command connects to Temporal, and most
# never trace.
_lock = threading.Lock()
_provider: TracerProvider | None = None


class TracingConfigError(ValueError):
    """The configured exporter cannot be built (e.g. an OTLP protocol whose exporter is not installed)."""


def _exporter(settings: Settings) -> SpanExporter | None:
    """The span exporter OTEL_TRACES_EXPORTER names; None for `none`."""
    kind = settings.otel_traces_exporter.lower()
    if kind == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if kind != "otlp":
        return None
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    if protocol == "grpc":
        try:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
        except ImportError as err:  # pragma: no cover - depends on the installed extras
            raise TracingConfigError(f"OTEL_EXPORTER_OTLP_PROTOCOL=grpc needs its exporter: {err}") from None
        return GrpcExporter()
    if protocol != "http/protobuf":
        raise TracingConfigError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: use http/protobuf or grpc")
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    # No arguments: the exporter reads OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT, _HEADERS, _TIMEOUT, ... as specified.
    return OTLPSpanExporter()


def setup_tracing(
    settings: Settings | None = None,
    service_name: str = "genai-flow",
    exporter: SpanExporter | None = None,
    set_global: bool = True,
) -> TracerProvider | None:
    """Install this process's tracer provider once; None (and nothing done) when tracing is off.

    `exporter` overrides the environment (tests pass an in-memory one; spans are then exported synchronously);
    `set_global=False` keeps the provider to genai-flow's own instrumentation (Temporal, the gateway).
    """
    global _provider
    with _lock:
        if _provider is not None:
            return _provider
        explicit = exporter is not None
        exporter = exporter or _exporter(settings or get_settings())
        if exporter is None:
            return None
        from opentelemetry import trace
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        # Resource.create() reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; ours is only the default name.
        attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service_name}
        provider = TracerProvider(resource=Resource.create(attributes))
        provider.add_span_processor(SimpleSpanProcessor(exporter) if explicit else BatchSpanProcessor(exporter))
        if set_global:
            trace.set_tracer_provider(provider)
        _provider = provider
        return provider


def tracer_provider() -> TracerProvider | None:
    """The provider setup_tracing installed, if tracing is on."""
    return _provider


def temporal_interceptors(settings: Settings | None = None) -> list[Interceptor]:
    """Temporal client interceptors: a TracingInterceptor when tracing is on (workers inherit client ones)."""
    provider = setup_tracing(settings)
    if provider is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(tracer=provider.get_tracer("temporalio"))]


def shutdown_tracing() -> None:
    """Flush and stop the exporter (call before the process exits so the last spans are sent)."""
    global _provider
    with _lock:
        if _provider is not None:
            _provider.shutdown()
            _provider = None
