"""Metrics move: with the workers stopped, submitted jobs raise the backlog (gateway /metrics, `stats --json`);
a worker started afterwards drains it, and its own port then shows tokens, latency and cost of those jobs."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import httpx
import pytest
import pytest_asyncio
import redis.asyncio
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client

from runtime.processes import free_port
from runtime.redis import redis_client
from runtime.settings import Settings
from runtime.stats import StatsReader
from schemas import queues
from schemas.answer import AnswerRequest
from schemas.jobs import JobStatus, Pipeline
from schemas.stats import StatsSnapshot
from starter.client import GenAIFlowClient
from tests.conftest import GatewayUnderTest
from tests.dashboards import dashboard_metrics
from tests.helpers import index_facts

ROOT = Path(__file__).resolve().parents[1]
JOBS = 4  # three complete (one after a failed attempt), one is dead-lettered
T = TypeVar("T")


async def eventually(read: Callable[[], Awaitable[T]], ok: Callable[[T], bool], timeout: float = 60) -> T:
    """Poll read() until ok(value) holds; fail with the last value (tolerates a loaded machine)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await read()
        if ok(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout}s; last value: {value!r}"[:4000])
        await asyncio.sleep(0.5)


def scrape(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Samples of a Prometheus exposition: (sample name, labels) -> value."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """Sum of the samples of a name whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def names(samples: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> set[str]:
    """Sample names with their histogram/counter family names."""
    found = {name for name, _ in samples}
    for name in list(found):
        for suffix in ("_bucket", "_count", "_sum", "_total"):
            if name.endswith(suffix):
                found.add(name.removesuffix(suffix))
    return found


@pytest_asyncio.fixture
async def setup(
    gateway_factory: Callable[..., GatewayUnderTest], tmp_path: Path
) -> AsyncIterator[tuple[GatewayUnderTest, str, redis.asyncio.Redis]]:
    """A real gateway on its own queues and keys (no worker), an indexed corpus, a Redis client."""
    gw = gateway_factory()
    collection = f"obs-{gw.settings.key_prefix}"
    await index_facts(tmp_path, collection, gw.settings)
    redis = redis_client(gw.settings)
    yield gw, collection, redis
    await redis.aclose()


def worker_env(servers: dict[str, str], settings: Settings, metrics_port: int) -> dict[str, str]:
    """The environment of a `genai-flow worker` on the test's private queues, keys and metrics port."""
    return {
        **os.environ,
        **{k: v for k, v in servers.items() if k.isupper()},
        "GENAI_FLOW_TASK_QUEUE_PREFIX": settings.task_queue_prefix,
        "GENAI_FLOW_KEY_PREFIX": settings.key_prefix,
        "GENAI_FLOW_METRICS_PORT": str(metrics_port),
        "GENAI_FLOW_LOG_FORMAT": "json",
    }


def stats_cli(env: dict[str, str]) -> StatsSnapshot:
    """`genai-flow stats --json` as a user runs it."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "genai-flow"), "stats", "--json", "--window", "30"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return StatsSnapshot.model_validate_json(done.stdout)


async def test_backlog_rises_without_workers_and_drains_with_them(
    servers: dict[str, str],
    client: Client,
    setup: tuple[GatewayUnderTest, str, redis.asyncio.Redis],
    tmp_path: Path,
) -> None:
    gw, collection, redis = setup
    settings = gw.settings
    reader = StatsReader(client, redis, settings)
    workflows_queue = queues.queue(queues.WORKFLOWS, settings.task_queue_prefix)

    async def gateway_metrics() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        await asyncio.sleep(2.5)  # past the gateway's stats cache
        async with httpx.AsyncClient(base_url=gw.url, timeout=30) as http:
            response = await http.get("/metrics")
            response.raise_for_status()
            return scrape(response.text)

    # 1. No worker: jobs submitted over HTTP wait in the workflow task queue.
    flow = GenAIFlowClient(client, settings)
    question = "Who commissioned the Zephyr reactor?"
    # The third job's first model call fails once (the failure counter); the fourth fails every call until it is
    # dead-lettered after 5 attempts (1+2+4+8 s of backoff, overlapping the others).
    questions = [
        f"{question} #1",
        f"{question} #2",
        f"{question} [[sim:500x1#obs-{settings.key_prefix}]]",
        f"{question} [[sim:poison]]",
    ]
    async with httpx.AsyncClient(base_url=gw.url, headers=gw.auth(), timeout=30) as http:
        responses = [await http.post("/v1/answers", json={"question": q, "collection": collection}) for q in questions]
    assert [r.status_code for r in responses] == [202] * JOBS, [r.text for r in responses]
    job_ids = [r.json()["job_id"] for r in responses]
    snap = await eventually(
        lambda: reader.snapshot(30),
        lambda s: s.in_flight == JOBS and any(q.task_queue == workflows_queue and q.backlog >= JOBS for q in s.queues),
    )
    assert not snap.errors, snap.errors
    # (Not `pollers == 0`: the server lists pollers seen recently, e.g. the workers that just indexed the corpus.)
    samples = await gateway_metrics()
    assert total(samples, "genai_task_queue_backlog", task_queue=workflows_queue, task_type="workflow") >= JOBS
    assert total(samples, "genai_jobs_in_flight", pipeline="answer") == JOBS
    assert total(samples, "genai_stats_read_errors") == 0
    metrics_port = free_port()
    env = worker_env(servers, settings, metrics_port)
    cli = stats_cli(env)
    assert cli.in_flight == JOBS
    assert sum(q.backlog for q in cli.queues if q.task_queue == workflows_queue) >= JOBS

    # 2. A worker drains the queue; every job completes and the numbers follow.
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [str(Path(sys.executable).parent / "genai-flow"), "worker"], env=env, cwd=ROOT, stdout=log, stderr=log
    )
    try:
        for job_id, expected in zip(job_ids, [JobStatus.COMPLETED] * 3 + [JobStatus.DEAD_LETTERED], strict=True):
            info = await asyncio.wait_for(flow.wait(job_id), 120)
            assert info.status is expected, info.error
        snap = await eventually(
            lambda: reader.snapshot(30),
            lambda s: s.in_flight == 0 and s.backlog == 0 and bool(s.workers),
        )
        answer = next(p for p in snap.pipelines if p.pipeline == "answer")
        assert (answer.completed, answer.dead_lettered, snap.dead_lettered) == (JOBS - 1, 1, 1)
        assert answer.p50_s is not None and answer.p95_s is not None
        assert 0 < answer.p50_s <= answer.p95_s < 120
        assert snap.models and sum(m.billed_tokens for m in snap.models) > 0
        assert sum(m.cost_usd for m in snap.models) > 0
        assert {w.task_queue for w in snap.workers} >= {workflows_queue}
        assert all(0 <= w.utilisation <= 1 for w in snap.workers)

        gateway = await gateway_metrics()
        assert total(gateway, "genai_task_queue_backlog", task_queue=workflows_queue) == 0
        assert total(gateway, "genai_jobs_in_flight", pipeline="answer") == 0
        assert total(gateway, "genai_workers") >= 1
        assert total(gateway, "genai_dead_lettered_jobs") == 1

        # The same question again: every step is served from the cross-job cache (cache-hit counter).
        again = await flow.start(Pipeline.ANSWER, AnswerRequest(question=questions[0], collection=collection))
        assert (await asyncio.wait_for(flow.wait(again.job_id), 120)).status is JobStatus.COMPLETED

        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as resp:
            worker_samples = scrape(resp.read().decode())
        assert total(worker_samples, "genai_job_latency_seconds_count", pipeline="answer") == JOBS + 1
        assert total(worker_samples, "genai_jobs_total", pipeline="answer", outcome="completed") == JOBS
        assert total(worker_samples, "genai_jobs_total", pipeline="answer", outcome="dead_lettered") == 1
        assert total(worker_samples, "genai_dead_letters_total", pipeline="answer", step="retrieve") == 1
        assert total(worker_samples, "genai_inference_cache_hits_total", step="generate_answer") >= 1
        assert total(worker_samples, "genai_inference_tokens_total", kind="cached") > 0
        assert total(worker_samples, "genai_inference_failures_total", step="retrieve", type="Transient") >= 1
        for step in ("retrieve", "summarize", "extract_entities", "generate_answer"):
            assert total(worker_samples, "genai_inference_tokens_total", step=step) > 0, step
            assert total(worker_samples, "genai_inference_latency_seconds_count", step=step) >= 1, step
        assert total(worker_samples, "genai_cost_usd_total") > 0
        # SDK runtime metrics: slots and schedule-to-start (time spent waiting in the queue) are exposed too.
        assert total(worker_samples, "temporal_worker_task_slots_available") > 0
        assert total(worker_samples, "temporal_workflow_task_schedule_to_start_latency_count") >= JOBS

        # Every metric the Grafana dashboard draws is exported by the worker or the gateway.
        missing = dashboard_metrics() - names(worker_samples) - names(gateway)
        assert not missing, f"dashboard references metrics nobody exports: {sorted(missing)}"
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=60)
        finally:
            if worker.poll() is None:
                worker.kill()
            log.close()
