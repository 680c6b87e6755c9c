"""B1: AnswerQuestion latency (start → result) / a bare 4-activity Temporal chain's latency (target <= 1.0).

Both run on one private stack (bench/stack.py): the same dev server, the same worker process (this one), the
same client. The subject is AnswerQuestion with its real activities against a zero-latency simulator
(retrieve embeds the question and queries Chroma; summarize ∥ extract_entities; generate_answer streams;
finish_job). The recorded baseline is `BenchBareChain`, four trivial regular activities in sequence, each
matched by the server exactly as AnswerQuestion's model calls are (they run on genai-inference, apart from the
workflow, so the SDK can never hand them over eagerly). A third side, the same chain with the SDK's eager
activity dispatch (possible only when activities share the workflow's queue, which the design rules out for
model calls), is reported in the details as a stricter reference. Runs rotate through the sides; p50 is
recorded, with p95 and a per-phase breakdown from each run's history in the details.
Run: `python -m bench.bench_b1_latency` (~1 min).
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
MATCHED_QUEUE = "bench-bare-chain-matched"


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
        self.ids: dict[str, list[str]] = {"bare": [], "matched": [], "answer": []}

    async def _chain(self, side: str, queue: str) -> None:
        wid = f"bench-{side}-{uuid.uuid4().hex}"
        handle = await self.stack.client.start_workflow(
            BareChain.run, "x", id=wid, task_queue=self.stack.settings.task_queue_prefix + queue
        )
        await handle.result()
        self.ids[side].append(wid)

    async def bare(self) -> None:
        """One baseline run, start → result (activities dispatched eagerly: the SDK's default on one queue)."""
        await self._chain("bare", BARE_QUEUE)

    async def matched(self) -> None:
        """One run of the same chain with eager activity dispatch off: every activity goes through matching."""
        await self._chain("matched", MATCHED_QUEUE)

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
        self.ids["answer"].append(started.job_id)

    async def phases(self, client: Client, ids: list[str]) -> tuple[dict[str, float], list[str]]:
        """Median phase breakdown over the runs, and the timeline of the run closest to the median total."""
        histories = [await events_of(client.get_workflow_handle(wid)) for wid in ids]
        runs = [breakdown(events) for events in histories]
        mid = median([r["total"] for r in runs])
        closest = min(range(len(runs)), key=lambda i: abs(runs[i]["total"] - mid))
        return summarize(runs), timeline(histories[closest])


def bare_worker(stack: BenchStack, queue: str, eager: bool) -> Worker:
    """A worker for the bare chain: its own task queue, in this process, with the project's sandbox runner."""
    from workers.registry import workflow_runner

    return Worker(
        stack.client,
        task_queue=stack.settings.task_queue_prefix + queue,
        workflows=[BareChain],
        activities=[bench_step],
        workflow_runner=workflow_runner(),
        disable_eager_activity_execution=not eager,
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
    async with (
        bench_stack("b1") as stack,
        in_process_workers(stack.client, stack.settings),
        bare_worker(stack, BARE_QUEUE, eager=True),
        bare_worker(stack, MATCHED_QUEUE, eager=False),
    ):
        runner = Runner(stack)
        base, matched, subj = await interleaved([runner.bare, runner.matched, runner.answer], ROUNDS, WARMUP)
        phases = {side: await runner.phases(stack.client, ids[WARMUP:]) for side, ids in runner.ids.items()}
    details: dict[str, Any] = {
        "rounds": ROUNDS,
        "warmup": WARMUP,
        "simulator": "zero latency",
        "baseline": "bare 4-activity chain, every activity matched by the server (as AnswerQuestion's are)",
        "baseline_ms": ms(matched),
        "subject_ms": ms(subj),
        "ratio_p95": round(percentile(subj, 95) / percentile(matched, 95), 4),
        # The stricter reference: the same chain on one queue, activities handed over eagerly by the SDK.
        "eager_same_queue_chain_ms": ms(base),
        "ratio_p50_vs_eager_same_queue_chain": round(percentile(subj, 50) / percentile(base, 50), 4),
        "baseline_phases_ms_p50": phases["bare"][0],
        "baseline_no_eager_phases_ms_p50": phases["matched"][0],
        "subject_phases_ms_p50": phases["answer"][0],
        "baseline_timeline_median_run": phases["bare"][1],
        "subject_timeline_median_run": phases["answer"][1],
    }
    for side, (summary, _) in phases.items():
        print(side, summary, file=sys.stderr)
    record("b1_answer_latency", "<= 1.0", percentile(matched, 50) * 1000, percentile(subj, 50) * 1000, "ms", details)


if __name__ == "__main__":
    asyncio.run(main())
