"""Worker-side custom metrics, recorded through the Temporal SDK's meter onto the worker's Prometheus port (9464).

Two call sites only: `record_inference` / `record_inference_failure` where an inference attempt ends
(activities/attempt.py) and `record_job` / `record_dead_letter` in the job-closing local activities
(activities/jobs.py). Outside a running activity (unit tests calling the code directly) they do nothing.

Metric names (documented in docs/observability.md; Prometheus counters get `_total` from the exporter):
- `genai_inference_tokens_total{model,step,kind}`: kind `prompt` / `completion` for tokens a model call delivered,
  `retried` for tokens billed by failed attempts of the step (invalid output), `cached` for tokens served from the
  never-pay-twice store or the cross-job cache (not billed). Billed = prompt + completion + retried.
- `genai_inference_latency_seconds{model,step}`: model call latency (cache hits excluded).
- `genai_inference_cache_hits_total{model,step}`, `genai_inference_failures_total{step,type}` (failure class).
- `genai_job_latency_seconds{pipeline}`: dispatch (workflow start) → result stored (the closing activity).
- `genai_jobs_total{pipeline,outcome}`, `genai_cost_usd_total{model}`, `genai_dead_letters_total{pipeline,step}`.
Each also carries the SDK's `namespace`, `task_queue` and `activity_type` labels.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from temporalio import activity
from temporalio.common import MetricMeter

from runtime.logging import get_logger
from schemas.answer import StepUsage
from schemas.inference import InferenceCall
from schemas.usage import Usage

log = get_logger(__name__)

TOKENS = "genai_inference_tokens"
INFERENCE_LATENCY = "genai_inference_latency_seconds"
CACHE_HITS = "genai_inference_cache_hits"
FAILURES = "genai_inference_failures"
JOB_LATENCY = "genai_job_latency_seconds"
JOBS = "genai_jobs"
COST = "genai_cost_usd_total"
DEAD_LETTERS = "genai_dead_letters"

# Names as Prometheus shows them (counters with the exporter's `_total`): what dashboards may reference.
EXPORTED = (
    f"{TOKENS}_total",
    INFERENCE_LATENCY,
    f"{CACHE_HITS}_total",
    f"{FAILURES}_total",
    JOB_LATENCY,
    f"{JOBS}_total",
    COST,
    f"{DEAD_LETTERS}_total",
)
# Seconds; model calls and jobs run from tens of milliseconds to many minutes (the step deadline is 10 min).
LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
HISTOGRAM_BUCKETS = {INFERENCE_LATENCY: LATENCY_BUCKETS, JOB_LATENCY: LATENCY_BUCKETS}

# The SDK meter counts integers only; cost is a float, so each worker keeps its running sum per label set and
# exports it as a gauge that only grows (rate()/increase() treat it as a counter, resets included).
_cost_sums: dict[tuple[str, ...], float] = {}


def _meter() -> MetricMeter | None:
    return activity.metric_meter() if activity.in_activity() else None


def _texts(call: InferenceCall, result: BaseModel) -> dict[str, Any]:
    """The prompt (last user message) and answer of a call, for the log line (redacted unless GENAI_FLOW_LOG_TEXT)."""
    texts: dict[str, Any] = {}
    users = [m.content for m in getattr(call, "messages", None) or [] if m.role == "user" and m.content]
    if users:
        texts["prompt"] = users[-1]
    answer = getattr(result, "content", None) or getattr(result, "data", None)
    if answer:
        texts["answer"] = answer
    return texts


def record_inference(call: InferenceCall, result: BaseModel) -> None:
    """Count the tokens, latency and cache use of one finished inference step, and log it."""
    meter = _meter()
    if meter is None:
        return
    usage: Usage = result.usage  # type: ignore[attr-defined]  # every inference result has one
    step = call.step
    model = usage.model or "unknown"
    tokens = meter.create_counter(TOKENS, "Tokens of inference steps by kind (see docs/observability.md)", "tokens")
    if usage.cache_hit:
        meter.create_counter(CACHE_HITS, "Inference steps served from the store or cache").add(
            1, {"model": model, "step": step}
        )
        tokens.add(usage.prompt_tokens + usage.completion_tokens, {"model": model, "step": step, "kind": "cached"})
    else:
        meter.create_histogram_float(INFERENCE_LATENCY, "Model call latency", "s").record(
            usage.latency_ms / 1000, {"model": model, "step": step}
        )
        retried = max(0, usage.billed_tokens - usage.prompt_tokens - usage.completion_tokens)
        for kind, count in (("prompt", usage.prompt_tokens), ("completion", usage.completion_tokens)):
            tokens.add(count, {"model": model, "step": step, "kind": kind})
        if retried:
            tokens.add(retried, {"model": model, "step": step, "kind": "retried"})
    log.info(
        "inference step done",
        step=step,
        model=model,
        billed_tokens=usage.billed_tokens,
        cache_hit=usage.cache_hit,
        latency_ms=round(usage.latency_ms, 1),
        **_texts(call, result),
    )


def record_inference_failure(step: str, failure_type: str) -> None:
    """Count one failed inference attempt by its failure class (Throttled, Transient, Permanent, InvalidOutput)."""
    if (meter := _meter()) is not None:
        meter.create_counter(FAILURES, "Failed inference attempts by failure class").add(
            1, {"step": step, "type": failure_type}
        )


def record_job(
    pipeline: str, outcome: str, started_at: datetime | None, finished_at: datetime, steps: Iterable[StepUsage]
) -> float | None:
    """Count a closing job, its latency from dispatch (None when unknown) and its cost per model; the latency."""
    meter = _meter()
    latency = (finished_at - started_at).total_seconds() if started_at is not None else None
    if meter is None:
        return latency
    meter.create_counter(JOBS, "Jobs closed by pipeline and outcome").add(1, {"pipeline": pipeline, "outcome": outcome})
    if latency is not None:
        meter.create_histogram_float(JOB_LATENCY, "Job latency from dispatch to result stored", "s").record(
            max(0.0, latency), {"pipeline": pipeline}
        )
    costs: dict[str, float] = {}
    for step in steps:
        costs[step.usage.model or "unknown"] = costs.get(step.usage.model or "unknown", 0.0) + step.cost_usd
    gauge = meter.create_gauge_float(COST, "Cost in USD of model calls (a running sum per worker)", "USD")
    info = activity.info()
    for model, cost in costs.items():
        key = (info.namespace, info.task_queue, info.activity_type, model)
        _cost_sums[key] = _cost_sums.get(key, 0.0) + cost
        gauge.set(_cost_sums[key], {"model": model})
    return latency


def record_dead_letter(pipeline: str, step: str) -> None:
    """Count one dead-lettered job."""
    if (meter := _meter()) is not None:
        meter.create_counter(DEAD_LETTERS, "Dead-lettered jobs").add(1, {"pipeline": pipeline, "step": step})
