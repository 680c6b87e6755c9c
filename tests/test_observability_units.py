"""The pieces behind the metrics: redaction, per-minute counters, slot reports, gauge families, dashboard names."""

from __future__ import annotations

import time

import redis.asyncio

from activities.metrics import EXPORTED
from gateway.observability import GAUGES, families
from runtime.jobstats import JobStatsStore, bucket_bound, bucket_of, quantile
from runtime.keys import RedisKeys
from runtime.redact import redact, scrub
from runtime.settings import Settings
from schemas.answer import StepUsage
from schemas.stats import PipelineStats, QueueStats, StatsSnapshot, WorkerSlots
from schemas.usage import Usage
from tests.dashboards import dashboard_metrics
from workers.utilisation import slot_use


def test_text_is_redacted_unless_asked_and_secrets_always() -> None:
    event = {
        "event": "call failed: Authorization: Bearer abc.def-123",
        "prompt": "the secret plan",
        "data": {"answer": "forty-two", "tokens": 7, "api_key": "k1"},
        "messages": [{"role": "user", "content": "hi"}],
        "OPENAI_API_KEY": "sk-abcdefghijklmnopqrstuvwxyz",
        "note": "key sk-abcdefghijklmnopqrstuvwxyz leaked",
    }
    hidden = redact(event, keep_text=False)
    assert hidden["prompt"] == "[redacted 15 chars]" and hidden["messages"] == "[redacted]"
    assert hidden["data"] == {"answer": "[redacted 9 chars]", "tokens": 7, "api_key": "[redacted 2 chars]"}
    assert "abc.def" not in hidden["event"] and "Bearer [redacted]" in hidden["event"]
    assert hidden["OPENAI_API_KEY"].startswith("[redacted") and "sk-abc" not in hidden["note"]
    shown = redact(event, keep_text=True)
    assert shown["prompt"] == "the secret plan" and shown["data"]["answer"] == "forty-two"
    assert shown["data"]["api_key"] == "[redacted 2 chars]" and "sk-abc" not in shown["note"]
    assert scrub("no credentials here") == "no credentials here"


def test_latency_buckets_bound_every_value_within_25_percent() -> None:
    for latency in (0.001, 0.01, 0.0123, 0.5, 1.0, 3.7, 61.0, 3600.0):
        bound = bucket_bound(bucket_of(latency))
        assert bound >= latency and (latency <= 0.01 or bound <= latency * 1.25 + 1e-9), latency
    histogram = {bucket_of(0.1): 50, bucket_of(1.0): 45, bucket_of(10.0): 5}
    assert quantile(histogram, 0.5) == bucket_bound(bucket_of(0.1))
    assert quantile(histogram, 0.95) == bucket_bound(bucket_of(1.0))
    assert quantile({}, 0.5) is None


async def test_job_counters_merge_over_the_window(
    isolated_redis: redis.asyncio.Redis, isolated_settings: Settings
) -> None:
    store = JobStatsStore(isolated_redis, RedisKeys.of(isolated_settings))
    now = time.time()
    fresh = Usage(model="m1", prompt_tokens=10, completion_tokens=5, billed_tokens=15)
    cached = Usage(model="m1", prompt_tokens=10, completion_tokens=5, billed_tokens=0, cache_hit=True)
    for minute_ago, latency in ((0, 1.0), (1, 2.0), (2, 30.0)):
        steps = [StepUsage(step="a", usage=fresh, cost_usd=0.5), StepUsage(step="b", usage=cached)]
        await store.record("answer", "completed", latency, steps, at=now - 60 * minute_ago)
    await store.record("answer", "dead_lettered", None, [], at=now)
    await store.record("answer", "completed", 99.0, [], at=now - 60 * 20)  # outside a 15-minute window

    window = await store.window(15, now=now)
    answer = window.pipelines["answer"]
    assert (answer.completed, answer.dead_lettered, answer.failed) == (3, 1, 0)
    assert answer.p50_s is not None and 2.0 <= answer.p50_s <= 2.5
    assert answer.p95_s is not None and 30.0 <= answer.p95_s <= 37.5
    model = window.models["m1"]
    assert (model.prompt_tokens, model.completion_tokens, model.billed_tokens, model.cached_tokens) == (30, 15, 45, 45)
    assert abs(model.cost_usd - 1.5) < 1e-9
    assert (await store.window(1, now=now)).pipelines["answer"].completed == 1
    ttl = await isolated_redis.ttl(RedisKeys.of(isolated_settings).stats_minute(int(now // 60)))
    assert 0 < ttl <= 2 * 24 * 3600


def test_slot_use_is_read_from_the_sdk_gauges() -> None:
    text = "\n".join(
        [
            "# TYPE temporal_worker_task_slots_used gauge",
            'temporal_worker_task_slots_used{namespace="d",task_queue="q1",worker_type="ActivityWorker"} 3',
            'temporal_worker_task_slots_used{namespace="d",task_queue="q0",worker_type="WorkflowWorker"} 0',
            "# TYPE temporal_worker_task_slots_available gauge",
            'temporal_worker_task_slots_available{namespace="d",task_queue="q1",worker_type="ActivityWorker"} 7',
            'temporal_worker_task_slots_available{namespace="d",task_queue="q0",worker_type="WorkflowWorker"} 100',
            "# TYPE temporal_num_pollers gauge",
            'temporal_num_pollers{task_queue="q1"} 5',
        ]
    )
    assert slot_use(text) == {"q1|ActivityWorker": "3/7", "q0|WorkflowWorker": "0/100"}


def test_gateway_families_cover_every_gauge() -> None:
    snap = StatsSnapshot(
        generated_at="2026-01-01T00:00:00Z",  # type: ignore[arg-type]
        namespace="default",
        window_minutes=15,
        queues=[QueueStats(task_queue="genai-workflows", task_type="workflow", backlog=4, backlog_age_s=2.5)],
        pipelines=[PipelineStats(pipeline="answer", in_flight=2, p50_s=1.0, p95_s=3.0)],
        workers=[
            WorkerSlots(worker="1@h", task_queue="q", worker_type="ActivityWorker", used=1, available=3),
            WorkerSlots(worker="2@h", task_queue="q", worker_type="ActivityWorker", used=2, available=2),
        ],
        pending_approvals=1,
        dead_lettered=2,
    )
    found = {f.name: f for f in families(snap)}
    assert set(found) == set(GAUGES)
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in found.values() for s in f.samples}
    assert samples[("genai_task_queue_backlog", (("task_queue", "genai-workflows"), ("task_type", "workflow")))] == 4
    assert samples[("genai_worker_slots_used", (("task_queue", "q"), ("worker_type", "ActivityWorker")))] == 3
    assert samples[("genai_workers", (("task_queue", "q"), ("worker_type", "ActivityWorker")))] == 2
    assert samples[("genai_job_latency_window_seconds", (("pipeline", "answer"), ("quantile", "0.95")))] == 3.0
    assert samples[("genai_dead_lettered_jobs", ())] == 2


def test_dashboard_names_only_metrics_we_declare() -> None:
    # The live check (every name is really exported) is in test_metrics_move; this one needs no servers.
    declared = set(GAUGES) | set(EXPORTED)
    ours = {name for name in dashboard_metrics() if name.startswith("genai_")}

    def family(name: str) -> str:
        for suffix in ("_bucket", "_count", "_sum"):
            if name.removesuffix(suffix) in declared:
                return name.removesuffix(suffix)
        return name

    assert {family(name) for name in ours} <= declared, sorted({family(n) for n in ours} - declared)
    assert {"genai_task_queue_backlog", "genai_job_latency_seconds_bucket", "genai_inference_tokens_total"} <= ours
