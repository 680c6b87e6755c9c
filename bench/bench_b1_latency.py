"""B1: AnswerQuestion latency (start → result) / a bare 4-activity Temporal chain's latency (target <= 1.0).

Both run on one private stack (bench/stack.py): the same dev server, the same worker process (this one), the
same client. The baseline is `BenchBareChain`, four trivial regular activities in sequence on its own task
queue. The subject is AnswerQuestion with its real activities against a zero-latency simulator (retrieve
embeds the question and queries Chroma; summarize ∥ extract_entities; generate_answer streams; finish_job).
Runs are interleaved; the recorded value is p50, with p95 and a per-phase breakdown from each run's history
in the details. Run: `python -m bench.bench_b1_latency` (about a minute and a half).
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import uuid
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

# The sandbox re-imports this module for BenchBareChain: the bench plumbing is shared, not re-imported.
with workflow.unsafe.imports_passed_through():
    from bench.harness import interleaved, median, percentile, record
    from bench.history import breakdown, events_of, summarize, timeline
    from bench.stack import QUESTIONS, BenchStack, bench_stack, in_process_workers

ROUNDS = 30
WARMUP = 3
STEPS = 4
BARE_QUEUE = "bench-bare-chain"


@activity.defn(name="bench_step")
async def bench_step(value: str) -> str:
    """A trivial activity: returns its input."""
    return value


@workflow.defn(name="BenchBareChain")
class BareChain:
    """The baseline: four trivial regular activities, one after the other."""

    @workflow.run
    async def run(self, value: str) -> str:
        """Run bench_step STEPS times in sequence."""
        for _ in range(STEPS):
            value = await workflow.execute_activity(bench_step, value, start_to_close_timeout=timedelta(seconds=30))
        return value


class Runner:
    """Starts one run of either side and keeps the workflow handles for the history breakdown."""

    def __init__(self, stack: BenchStack) -> None:
        from starter.client import GenAIFlowClient

        self.stack = stack
        self.jobs = GenAIFlowClient(stack.client, stack.settings)
        self.questions = itertools.cycle(QUESTIONS)
        self.bare_queue = stack.settings.task_queue_prefix + BARE_QUEUE
        self.bare_ids: list[str] = []
        self.answer_ids: list[str] = []

    async def bare(self) -> None:
        """One baseline run, start → result."""
        wid = f"bench-bare-{uuid.uuid4().hex}"
        handle = await self.stack.client.start_workflow(BareChain.run, "x", id=wid, task_queue=self.bare_queue)
        await handle.result()
        self.bare_ids.append(wid)

    async def answer(self) -> None:
        """One AnswerQuestion run, start → result (the client's own start; the result by long poll)."""
        from schemas.answer import AnswerRequest
        from schemas.jobs import Pipeline

        req = AnswerRequest(question=next(self.questions), collection=self.stack.collection)
        started = await self.jobs.start(Pipeline.ANSWER, req)
        from schemas.answer import AnswerResult

        handle = self.stack.client.get_workflow_handle(started.job_id, result_type=AnswerResult)
        result = await handle.result()
        if not result.answer:
            raise RuntimeError(f"{started.job_id}: empty answer")
        self.answer_ids.append(started.job_id)

    async def phases(self, client: Client, ids: list[str]) -> tuple[dict[str, float], list[str]]:
        """Median phase breakdown over the runs, and the timeline of the run closest to the median total."""
        histories = [await events_of(client.get_workflow_handle(wid)) for wid in ids]
        runs = [breakdown(events) for events in histories]
        mid = median([r["total"] for r in runs])
        closest = min(range(len(runs)), key=lambda i: abs(runs[i]["total"] - mid))
        return summarize(runs), timeline(histories[closest])


def bare_worker(stack: BenchStack) -> Worker:
    """The baseline's worker: its own task queue, in this process, with the project's sandbox runner."""
    from workers.registry import workflow_runner

    return Worker(
        stack.client,
        task_queue=stack.settings.task_queue_prefix + BARE_QUEUE,
        workflows=[BareChain],
        activities=[bench_step],
        workflow_runner=workflow_runner(),
    )


def ms(samples: list[float]) -> dict[str, float]:
    """p50/p95/min/max of second samples, in milliseconds."""
    return {
        "p50": round(percentile(samples, 50) * 1000, 2),
        "p95": round(percentile(samples, 95) * 1000, 2),
        "min": round(min(samples) * 1000, 2),
        "max": round(max(samples) * 1000, 2),
    }


async def main() -> None:
    """Start the stack and both workers, time interleaved runs, record B1."""
    async with bench_stack("b1") as stack, in_process_workers(stack.client, stack.settings), bare_worker(stack):
        runner = Runner(stack)
        base, subj = await interleaved(runner.bare, runner.answer, rounds=ROUNDS, warmup=WARMUP)
        measured_bare, measured_answer = runner.bare_ids[WARMUP:], runner.answer_ids[WARMUP:]
        bare_phases, bare_timeline = await runner.phases(stack.client, measured_bare)
        answer_phases, answer_timeline = await runner.phases(stack.client, measured_answer)
    details: dict[str, Any] = {
        "rounds": ROUNDS,
        "warmup": WARMUP,
        "simulator": "zero latency",
        "baseline_ms": ms(base),
        "subject_ms": ms(subj),
        "ratio_p95": round(percentile(subj, 95) / percentile(base, 95), 4),
        "baseline_phases_ms_p50": bare_phases,
        "subject_phases_ms_p50": answer_phases,
        "baseline_timeline_median_run": bare_timeline,
        "subject_timeline_median_run": answer_timeline,
    }
    for label, phases in (("baseline", bare_phases), ("subject", answer_phases)):
        print(label, phases, file=sys.stderr)
    record("b1_answer_latency", "<= 1.0", percentile(base, 50) * 1000, percentile(subj, 50) * 1000, "ms", details)


if __name__ == "__main__":
    asyncio.run(main())
