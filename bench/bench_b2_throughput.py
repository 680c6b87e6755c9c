"""B2: AnswerQuestion throughput / the same chain on Celery + Redis (completed jobs/s; target >= 0.5).

One private stack (bench/stack.py) serves both sides: the same simulator (zero latency), Chroma collection and
Redis. Each side gets one worker process started as a subprocess with the same concurrency budget of
CONCURRENCY in-flight tasks: `genai-flow worker` (every queue; GENAI_FLOW_MAX_CONCURRENT_ACTIVITIES=CONCURRENCY)
and `celery worker --pool threads --concurrency CONCURRENCY` (threads, not prefork: one process like ours, and
the steps wait on I/O). This process only starts jobs and collects results. Per round, each side runs JOBS jobs
started together, timed from the first start to the last result; rounds alternate sides, the best round of each
counts. The details add CPU seconds per job of every process involved, which is where the time goes on 2 cores.
Run: `python -m bench.bench_b2_throughput` (about three minutes). `B2_PROFILE=DIR` also records the genai-flow
worker's measured rounds with py-spy (`uvx py-spy`, run outside the project's dependencies) as collapsed stacks in
DIR, summarised by `python -m bench.profile_summary DIR/*.txt`; `B2_JOBS` / `B2_ROUNDS` shrink a run for a look.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import psutil
import redis

from bench import celery_chain
from bench.harness import cpu_seconds, record
from bench.stack import QUESTIONS, REPO, BenchStack, bench_stack, worker_process
from runtime.processes import ManagedProcess, find_binary

JOBS = int(os.environ.get("B2_JOBS", "200"))
CONCURRENCY = 32
WARMUP_JOBS = 10
ROUNDS = int(os.environ.get("B2_ROUNDS", "2"))
JOB_TIMEOUT_S = 240.0


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


def skeleton_worker(stack: BenchStack) -> ManagedProcess:
    """bench.sdk_floor's worker: the pipeline's shape with empty steps, built like `genai-flow worker`."""
    ready = stack.state_dir / "skeleton.ready"
    env = {**stack.child_env(), "GENAI_FLOW_MAX_CONCURRENT_ACTIVITIES": str(CONCURRENCY)}
    argv = [sys.executable, "-m", "bench.sdk_floor", str(ready)]
    log = stack.state_dir / "logs" / "skeleton-worker.log"
    return ManagedProcess("skeleton-worker", argv, ready.exists, log, env=env, cwd=REPO)


async def skeleton_jobs(stack: BenchStack, n: int) -> int:
    """Run n Skeleton workflows together; returns how many completed."""
    from bench.sdk_floor import WORKFLOWS, Skeleton, SkeletonPayload

    queue = stack.settings.task_queue_prefix + WORKFLOWS
    results = await asyncio.gather(
        *(
            stack.client.execute_workflow(
                Skeleton.run,
                SkeletonPayload(question=_question(i)),
                id=f"skeleton-{uuid.uuid4().hex}",
                task_queue=queue,
                execution_timeout=timedelta(seconds=JOB_TIMEOUT_S),
            )
            for i in range(n)
        )
    )
    return sum(1 for r in results if r.text)


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


async def measure(
    name: str, run: Callable[[int], Awaitable[int]], n: int, procs: dict[str, psutil.Process]
) -> dict[str, Any]:
    """Run n jobs on one side: rate, elapsed, and CPU ms per job of each process."""
    before = cpu_seconds(procs)
    start = time.perf_counter()
    done = await run(n)
    elapsed = time.perf_counter() - start
    after = cpu_seconds(procs)
    cpu = {k: round((after[k] - before[k]) * 1000 / n, 1) for k in procs}
    print(f"{name}: {done}/{n} in {elapsed:.1f}s = {done / elapsed:.1f} jobs/s; cpu ms/job {cpu}", file=sys.stderr)
    if done != n:
        raise RuntimeError(f"{name}: only {done} of {n} jobs answered")
    return {"rate": done / elapsed, "elapsed_s": round(elapsed, 2), "cpu_ms_per_job": cpu}


@contextlib.contextmanager
def profiled(side: str, pid: int | None, round_no: int) -> Iterator[None]:
    """With B2_PROFILE set, py-spy samples the side's worker process for the block (collapsed stacks to a file)."""
    out_dir = os.environ.get("B2_PROFILE")
    if not out_dir or pid is None:
        yield
        return
    out = Path(out_dir) / f"{side}-worker-round{round_no}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    uvx = shutil.which("uvx") or str(Path.home() / ".local" / "bin" / "uvx")
    argv = [uvx, "py-spy", "record", "--pid", str(pid), "--format", "raw", "--rate", "200", "--output", str(out)]
    spy = subprocess.Popen([*argv, "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # py-spy attaches before the round starts
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        spy.wait(timeout=30)
        print(f"{side}: py-spy profile in {out}", file=sys.stderr)


async def main() -> None:
    """Start the stack and both workers, alternate rounds of JOBS jobs per side, record B2."""
    async with bench_stack("b2") as stack:
        workers = {
            "genai": worker_process(stack, "genai-worker", CONCURRENCY),
            "celery": celery_worker(stack),
            "skeleton": skeleton_worker(stack),
        }
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
            floor: Callable[[int], Awaitable[int]] = partial(skeleton_jobs, stack)
            for run in [*sides.values(), floor]:  # warm-up: imports, connections, the sandbox's module cache
                await run(WARMUP_JOBS)
            rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
            for i in range(ROUNDS):
                for name, run in sides.items():
                    with profiled(name, workers[name].pid, i):
                        rounds[name].append(await measure(name, run, JOBS, procs))
            # The floor once, in the same conditions: its CPU per job varies less than the sides' rates.
            skeleton = await measure("skeleton", floor, JOBS, procs)
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
        # bench.sdk_floor: the same shape with empty steps, so Temporal's own share of genai_best's CPU.
        "skeleton": skeleton,
    }
    if os.environ.get("B2_PROFILE"):
        print("profiled run: not recorded (py-spy takes CPU from both sides)", file=sys.stderr)
        return
    record("b2_answer_throughput", ">= 0.5", best["celery"]["rate"], best["genai"]["rate"], "jobs/s", details)


if __name__ == "__main__":
    asyncio.run(main())
