"""Shared by B6 and the scaling table: worker processes, bursts and open-loop loads of answer jobs, timed per job.

Every job is an AnswerQuestion started through `GenAIFlowClient.start` and awaited by long poll; a job counts as
answered when its result has an answer. Latency is taken from the job's scheduled start to its result.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psutil

from bench.harness import cpu_seconds, percentile
from bench.stack import QUESTIONS, BenchStack, worker_process
from runtime.processes import ManagedProcess

JOB_TIMEOUT_S = 600.0


@dataclass
class Outcome:
    """What a batch of jobs did: per-job latencies (s), failures, completion times since the first start."""

    offered: int
    latencies: list[float] = field(default_factory=list)
    finished_at: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def answered(self) -> int:
        """Jobs that returned an answer."""
        return len(self.latencies)

    def summary(self) -> dict[str, Any]:
        """Counts, rate over the whole batch, p50/p99 latency, and the rate between 10 % and 90 % of completions."""
        done = sorted(self.finished_at)
        lo, hi = len(done) // 10, len(done) * 9 // 10 - 1
        steady = (hi - lo) / (done[hi] - done[lo]) if hi > lo and done[hi] > done[lo] else 0.0
        return {
            "offered": self.offered,
            "answered": self.answered,
            "failed": len(self.failures),
            "elapsed_s": round(self.elapsed_s, 2),
            "jobs_per_s": round(self.answered / self.elapsed_s, 3) if self.elapsed_s else 0.0,
            "steady_jobs_per_s": round(steady, 3),
            "p50_s": round(percentile(self.latencies, 50), 2) if self.latencies else None,
            "p99_s": round(percentile(self.latencies, 99), 2) if self.latencies else None,
            "failures": self.failures[:5],
        }


async def run_jobs(stack: BenchStack, delays: list[float], tag: str) -> Outcome:
    """Start one job at each delay (seconds after now), wait for every result; the batch's Outcome."""
    from schemas.answer import AnswerRequest, AnswerResult
    from schemas.jobs import Pipeline
    from starter.client import GenAIFlowClient

    jobs = GenAIFlowClient(stack.client, stack.settings)
    outcome = Outcome(offered=len(delays))
    start = time.perf_counter()

    async def one(i: int, delay: float) -> None:
        await asyncio.sleep(max(0.0, start + delay - time.perf_counter()))
        question = f"{QUESTIONS[i % len(QUESTIONS)]} ({tag} #{i})"
        try:
            started = await jobs.start(Pipeline.ANSWER, AnswerRequest(question=question, collection=stack.collection))
            handle = stack.client.get_workflow_handle(started.job_id, result_type=AnswerResult)
            result = await asyncio.wait_for(handle.result(), JOB_TIMEOUT_S)
        except Exception as err:  # counted: the scaling table's claim is that nothing fails
            outcome.failures.append(f"{type(err).__name__}: {err}")
            return
        now = time.perf_counter()
        if result.answer:
            outcome.latencies.append(now - start - delay)
            outcome.finished_at.append(now - start)
        else:
            outcome.failures.append("empty answer")

    await asyncio.gather(*(one(i, d) for i, d in enumerate(delays)))
    outcome.elapsed_s = time.perf_counter() - start
    return outcome


@contextmanager
def workers(stack: BenchStack, count: int, slots: int) -> Iterator[dict[str, psutil.Process]]:
    """`count` worker processes with `slots` activity slots each; the processes to measure, stack's included."""
    procs: list[ManagedProcess] = [worker_process(stack, f"worker-{i}", slots) for i in range(count)]
    try:
        for proc in procs:
            proc.start(timeout=120)
        measured = {name: psutil.Process(p.pid) for name, p in stack.processes.items() if p.pid}
        measured |= {p.name: psutil.Process(p.pid) for p in procs if p.pid}
        yield measured
    finally:
        for proc in procs:
            proc.stop()


async def measured(
    stack: BenchStack, procs: dict[str, psutil.Process], delays: list[float], tag: str
) -> dict[str, Any]:
    """run_jobs with the CPU ms per answered job of each process (workers summed as `workers`) beside it."""
    before = cpu_seconds(procs)
    outcome = await run_jobs(stack, delays, tag)
    after = cpu_seconds(procs)
    per_job = {name: (after[name] - before[name]) * 1000 / max(1, outcome.answered) for name in procs}
    cpu = {name: round(ms, 1) for name, ms in per_job.items() if not name.startswith("worker-")}
    cpu["workers"] = round(sum(ms for name, ms in per_job.items() if name.startswith("worker-")), 1)
    summary = {**outcome.summary(), "cpu_ms_per_job": cpu}
    print(f"{tag}: {summary}", file=sys.stderr, flush=True)
    return summary
