"""B2: AnswerQuestion throughput / the same chain on Celery + Redis (completed jobs/s; target >= 0.5).

One private stack (bench/stack.py) serves both sides: the same simulator (zero latency), Chroma collection and
Redis. Each side gets one worker process started as a subprocess with the same concurrency budget of
CONCURRENCY in-flight tasks: `genai-flow worker` (every queue; GENAI_FLOW_MAX_CONCURRENT_ACTIVITIES=CONCURRENCY)
and `celery worker --pool threads --concurrency CONCURRENCY` (threads, not prefork: one process like ours, and
the steps wait on I/O). This process only starts jobs and collects results. Per round, each side runs JOBS jobs
started together, timed from the first start to the last result; rounds alternate sides, the best round of each
counts. The details add CPU seconds per job of every process involved, which is where the time goes on 2 cores.
Run: `python -m bench.bench_b2_throughput` (about three minutes).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import psutil
import redis

from bench import celery_chain
from bench.harness import record
from bench.stack import QUESTIONS, BenchStack, bench_stack
from runtime import services
from runtime.processes import ManagedProcess, find_binary, free_port

JOBS = 200
CONCURRENCY = 32
WARMUP_JOBS = 10
ROUNDS = 2
JOB_TIMEOUT_S = 240.0
REPO = Path(__file__).resolve().parent.parent


def temporal_worker(stack: BenchStack) -> ManagedProcess:
    """`genai-flow worker` on the stack's private queues, CONCURRENCY activities at once, cache off."""
    log = stack.state_dir / "logs" / "genai-worker.log"
    metrics_port = free_port()
    env = {
        **stack.child_env(),
        "GENAI_FLOW_MAX_CONCURRENT_ACTIVITIES": str(CONCURRENCY),
        "GENAI_FLOW_METRICS_PORT": str(metrics_port),
    }
    argv = [sys.executable, "-m", "starter.cli", "worker"]
    # The metrics endpoint opens just before the workers connect; the warm-up jobs then wait for them to poll.
    ready = partial(services.http_ok, f"http://127.0.0.1:{metrics_port}/metrics")
    return ManagedProcess("genai-worker", argv, ready, log, env=env, cwd=REPO)


def celery_worker(stack: BenchStack) -> ManagedProcess:
    """A Celery worker for bench.celery_chain: thread pool of CONCURRENCY, the stack's Redis as broker/backend."""
    celery_chain.use_settings(stack.settings)
    client = redis.Redis.from_url(stack.settings.redis_url)
    argv = [
        find_binary("celery", "uv sync --frozen (celery[redis] is a dev dependency)"),
        "-A",
        "bench.celery_chain",
        "worker",
        "--pool",
        "threads",
        "--concurrency",
        str(CONCURRENCY),
        "-Q",
        celery_chain.queue_name(),
        "--hostname",
        f"bench-{uuid.uuid4().hex[:6]}@%h",
        "--loglevel",
        "WARNING",
        # No peers to talk to: skip the cluster chatter so it costs neither side anything.
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    log = stack.state_dir / "logs" / "celery-worker.log"
    return ManagedProcess(
        "celery-worker",
        argv,
        lambda: bool(client.exists(celery_chain.ready_key())),
        log,
        env=stack.child_env(),
        cwd=REPO,
    )


def _question(i: int) -> str:
    return f"{QUESTIONS[i % len(QUESTIONS)]} (#{i})"


async def temporal_jobs(stack: BenchStack, n: int) -> int:
    """Start n AnswerQuestion jobs together, wait for every result; returns how many answered."""
    from schemas.answer import AnswerRequest, AnswerResult
    from schemas.jobs import Pipeline
    from starter.client import GenAIFlowClient

    jobs = GenAIFlowClient(stack.client, stack.settings)
    requests = [AnswerRequest(question=_question(i), collection=stack.collection) for i in range(n)]
    started = await asyncio.gather(*(jobs.start(Pipeline.ANSWER, req) for req in requests))

    async def result(job_id: str) -> AnswerResult:
        handle = stack.client.get_workflow_handle(job_id, result_type=AnswerResult)
        return await asyncio.wait_for(handle.result(), JOB_TIMEOUT_S)

    results = await asyncio.gather(*(result(s.job_id) for s in started))
    return sum(1 for r in results if r.answer)


def celery_jobs(stack: BenchStack, n: int) -> int:
    """Send n answer chains together, wait for every result; returns how many answered."""
    run = uuid.uuid4().hex[:8]
    pending = [
        celery_chain.answer_chain(f"celery-{run}-{i}", _question(i), stack.collection).apply_async() for i in range(n)
    ]
    results = [p.get(timeout=JOB_TIMEOUT_S) for p in pending]
    return sum(1 for r in results if r["answer"])


def _cpu_s(procs: dict[str, psutil.Process]) -> dict[str, float]:
    """CPU seconds (user + system) so far of each process and its children (not this process's: they are the rest)."""
    out: dict[str, float] = {}
    for name, proc in procs.items():
        total = 0.0
        family = [proc] if proc.pid == os.getpid() else [proc, *proc.children(recursive=True)]
        for p in family:
            try:
                times = p.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                continue
        out[name] = total
    return out


async def measure(
    name: str, run: Callable[[int], Awaitable[int]], n: int, procs: dict[str, psutil.Process]
) -> dict[str, Any]:
    """Run n jobs on one side: rate, elapsed, and CPU ms per job of each process."""
    before = _cpu_s(procs)
    start = time.perf_counter()
    done = await run(n)
    elapsed = time.perf_counter() - start
    after = _cpu_s(procs)
    cpu = {k: round((after[k] - before[k]) * 1000 / n, 1) for k in procs}
    print(f"{name}: {done}/{n} in {elapsed:.1f}s = {done / elapsed:.1f} jobs/s; cpu ms/job {cpu}", file=sys.stderr)
    if done != n:
        raise RuntimeError(f"{name}: only {done} of {n} jobs answered")
    return {"rate": done / elapsed, "elapsed_s": round(elapsed, 2), "cpu_ms_per_job": cpu}


async def main() -> None:
    """Start the stack and both workers, alternate rounds of JOBS jobs per side, record B2."""
    async with bench_stack("b2") as stack:
        workers = {"genai": temporal_worker(stack), "celery": celery_worker(stack)}
        try:
            for proc in workers.values():
                proc.start(timeout=90)
            procs = {name: psutil.Process(p.pid) for name, p in {**stack.processes, **workers}.items() if p.pid}
            procs["bench-client"] = psutil.Process()
            # Celery's result backend is per thread: one thread sends, waits and finally lets go of every result.
            celery_thread = ThreadPoolExecutor(1, thread_name_prefix="celery-client")
            loop = asyncio.get_running_loop()
            sides: dict[str, Callable[[int], Awaitable[int]]] = {
                "celery": lambda n: loop.run_in_executor(celery_thread, celery_jobs, stack, n),
                "genai": lambda n: temporal_jobs(stack, n),
            }
            for run in sides.values():  # warm-up: imports, connections, the sandbox's module cache
                await run(WARMUP_JOBS)
            rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
            for _ in range(ROUNDS):
                for name, run in sides.items():
                    rounds[name].append(await measure(name, run, JOBS, procs))
            await loop.run_in_executor(celery_thread, celery_chain.release_results)
            celery_thread.shutdown()
        finally:
            for proc in reversed(list(workers.values())):
                proc.stop()
    best = {name: max(rs, key=lambda r: r["rate"]) for name, rs in rounds.items()}
    details = {
        "jobs": JOBS,
        "concurrency": CONCURRENCY,
        "rounds": ROUNDS,
        "simulator": "zero latency",
        "celery_pool": "threads",
        "rounds_jobs_per_s": {name: [round(r["rate"], 2) for r in rs] for name, rs in rounds.items()},
        "celery_best": best["celery"],
        "genai_best": best["genai"],
    }
    record("b2_answer_throughput", ">= 0.5", best["celery"]["rate"], best["genai"]["rate"], "jobs/s", details)


if __name__ == "__main__":
    asyncio.run(main())
