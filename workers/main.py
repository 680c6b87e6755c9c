"""The worker process: Prometheus metrics, one Worker per task queue, graceful drain on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Sequence

from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from activities.metrics import HISTOGRAM_BUCKETS
from runtime.heap import freeze_startup_heap
from runtime.keys import RedisKeys
from runtime.logging import get_logger
from runtime.settings import Settings
from runtime.telemetry import setup_tracing, shutdown_tracing
from runtime.temporal import connect
from workers.registry import build_workers, open_deps
from workers.utilisation import report_slots

log = get_logger(__name__)


class MetricsPortError(RuntimeError):
    """The Prometheus endpoint could not bind its address."""


def install_metrics_runtime(settings: Settings) -> str:
    """Make the default Temporal runtime export the SDK's metrics for Prometheus; returns the scrape URL."""
    address = f"{settings.metrics_host}:{settings.metrics_port}"
    try:
        prometheus = PrometheusConfig(
            bind_address=address,
            # Prometheus conventions: counters end in _total, durations are seconds (docs/observability.md).
            counters_total_suffix=True,
            durations_as_seconds=True,
            histogram_bucket_overrides=HISTOGRAM_BUCKETS,
        )
        runtime = Runtime(telemetry=TelemetryConfig(metrics=prometheus))
    except Exception as err:  # the core raises a plain error when the port is taken
        raise MetricsPortError(
            f"cannot serve worker metrics on {address} ({err}); set GENAI_FLOW_METRICS_PORT to a free port"
        ) from None
    # Must happen before the client connects: the client's runtime carries the workers' metrics.
    Runtime.set_default(runtime, error_if_already_set=False)
    return f"http://{address}/metrics"


async def serve(settings: Settings, queues: Sequence[str]) -> int:
    """Run workers for the queues until SIGTERM/SIGINT, then drain in-flight tasks; returns the exit code."""
    metrics_url = install_metrics_runtime(settings)
    setup_tracing(settings, service_name="genai-flow-worker")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        client = await connect(settings)
        async with open_deps(settings) as deps:
            workers = build_workers(client, settings, queues, deps)
            freeze_startup_heap()
            runs = [asyncio.create_task(worker.run(), name=f"worker:{worker.task_queue}") for worker in workers]
            stopped = asyncio.create_task(stop.wait())
            reporter = asyncio.create_task(report_slots(metrics_url, deps.redis, RedisKeys.of(settings)))
            log.info("worker ready", queues=[w.task_queue for w in workers], metrics=metrics_url)
            await asyncio.wait([*runs, stopped], return_when=asyncio.FIRST_COMPLETED)
            log.info("worker draining", grace_s=settings.worker_shutdown_grace_s, signalled=stop.is_set())
            # shutdown() stops polling, lets running activities finish within graceful_shutdown_timeout, then waits.
            await asyncio.gather(*(worker.shutdown() for worker in workers), return_exceptions=True)
            results = await asyncio.gather(*runs, return_exceptions=True)
            stopped.cancel()
            reporter.cancel()
        failures = [r for r in results if isinstance(r, BaseException)]
        for failure in failures:
            log.error("worker failed", error=repr(failure))
        log.info("worker stopped", clean=not failures)
        return 1 if failures or not stop.is_set() else 0
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        shutdown_tracing()
