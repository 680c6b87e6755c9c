"""How many answer jobs in flight the embedded dev server (SQLite) holds before its limits show (bounded search).

The bench stack's dev server is the one `genai-flow up` runs (SQLite file, WAL pragmas). No worker polls the
stack's queues, so every started AnswerQuestion stays in flight (its first workflow task waits on the queue).
Jobs are started in batches of BATCH, CONCURRENCY at a time, until SEARCH_S has passed or a limit shows: a start
failing, a batch's start p99 above P99_GROWTH times the first batch's, or its starts/s below half the first's
(relative to the first batch, because on a shared machine the absolute figures say more about the neighbours).
Per batch: jobs in flight, starts/s, start p50/p99, the database's size on disk (WAL included), the server's
RSS, and how long visibility takes to count the running jobs. Recorded as `sqlite_inflight`: the last batch's
starts/s over the first's (target >= 0.5: the search stopped by time, not by a limit); the details name what
stopped it.
Run: `python -m bench.bench_sqlite_inflight` (at most about six minutes).
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psutil

from bench.harness import percentile, record
from bench.stack import QUESTIONS, BenchStack, bench_stack

BATCH = 1000
CONCURRENCY = 64
SEARCH_S = 300.0
P99_GROWTH = 3.0


def _db_mib(state_dir: Path) -> float:
    """Size of the dev server's SQLite files (database, WAL, shared memory) in MiB."""
    return sum(p.stat().st_size for p in state_dir.rglob("*.db*") if p.is_file()) / 2**20


async def _batch(stack: BenchStack, first: int, tag: str) -> tuple[list[float], list[str]]:
    """Start BATCH jobs, CONCURRENCY at a time; their start latencies (s) and errors."""
    from schemas.answer import AnswerRequest
    from schemas.jobs import Pipeline
    from starter.client import GenAIFlowClient

    jobs = GenAIFlowClient(stack.client, stack.settings)
    gate = asyncio.Semaphore(CONCURRENCY)
    latencies: list[float] = []
    errors: list[str] = []

    async def one(i: int) -> None:
        request = AnswerRequest(question=f"{QUESTIONS[i % len(QUESTIONS)]} ({tag} #{i})", collection=stack.collection)
        async with gate:
            began = time.perf_counter()
            try:
                await jobs.start(Pipeline.ANSWER, request)
            except Exception as err:
                errors.append(f"{type(err).__name__}: {err}")
                return
            latencies.append(time.perf_counter() - began)

    await asyncio.gather(*(one(i) for i in range(first, first + BATCH)))
    return latencies, errors


async def _count_s(stack: BenchStack) -> tuple[float, int]:
    """How long visibility takes to count this stack's running answer jobs, and the count."""
    began = time.perf_counter()
    counted = await stack.client.count_workflows("WorkflowType = 'AnswerQuestion' AND ExecutionStatus = 'Running'")
    return time.perf_counter() - began, counted.count


async def main() -> None:
    """Batches until a limit or SEARCH_S; `sqlite_inflight` recorded."""
    tag = uuid.uuid4().hex[:6]
    batches: list[dict[str, Any]] = []
    stopped = f"time: {SEARCH_S:.0f} s searched"
    async with bench_stack("sqlite") as stack:
        server = psutil.Process(stack.processes["temporal"].pid or 0)
        start = time.monotonic()
        while time.monotonic() - start < SEARCH_S:
            began = time.perf_counter()
            latencies, errors = await _batch(stack, len(batches) * BATCH, tag)
            elapsed = time.perf_counter() - began
            count_s, running = await _count_s(stack)
            row: dict[str, Any] = {
                "in_flight": running,
                "starts_per_s": round(len(latencies) / elapsed, 1),
                "start_p50_ms": round(percentile(latencies, 50) * 1000, 1) if latencies else None,
                "start_p99_ms": round(percentile(latencies, 99) * 1000, 1) if latencies else None,
                "errors": len(errors),
                "db_mib": round(_db_mib(stack.state_dir), 1),
                "server_rss_mib": round(server.memory_info().rss / 2**20, 1),
                "count_ms": round(count_s * 1000, 1),
            }
            batches.append(row)
            print(row, file=sys.stderr, flush=True)
            if errors:
                stopped = f"start errors: {errors[0]}"
            elif latencies and row["start_p99_ms"] > P99_GROWTH * batches[0]["start_p99_ms"]:
                stopped = f"start p99 above {P99_GROWTH:g}x the first batch's"
            elif row["starts_per_s"] < batches[0]["starts_per_s"] / 2:
                stopped = "starts/s below half the first batch's"
            else:
                continue
            break
    first, last = batches[0], batches[-1]
    details = {"batch": BATCH, "concurrency": CONCURRENCY, "in_flight": last["in_flight"], "stopped_by": stopped}
    details["batches"] = batches
    record("sqlite_inflight", ">= 0.5", first["starts_per_s"], last["starts_per_s"], "starts/s", details)


if __name__ == "__main__":
    asyncio.run(main())
