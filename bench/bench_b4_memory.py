"""B4: worker RSS at 2,000 in-flight model calls / a bare asyncio + httpx client holding the same calls (<= 2.0).

One bench stack; the simulator holds every call that carries a `[[sim:latency=…]]` marker for HOLD_S. Both sides
run as subprocesses and are sampled by this process (peak RSS while their calls are held):
- **Subject**: `genai-flow worker` (every queue, GENAI_FLOW_MAX_CONCURRENT_ACTIVITIES=CALLS) serving CALLS
  AnswerQuestion jobs whose question carries the marker, so each job's first model call (retrieve's embedding)
  waits in the simulator: CALLS workflows cached and CALLS activities in flight, as a deployment holds them.
- **Baseline**: `python -m bench.b4_bare`: asyncio and one httpx.AsyncClient (pool of CALLS), nothing else
  imported, sending the same CALLS embedding requests (same body, Idempotency-Key header) and waiting on them.
Each side is counted as held once the simulator's ledger shows CALLS of its calls pending. The details add each
side's idle RSS and the growth per held call. Run: `python -m bench.bench_b4_memory` (about four minutes).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import sys
import time
import uuid
from typing import Any

import httpx
import psutil

from bench.harness import record
from bench.stack import QUESTIONS, REPO, BenchStack, bench_stack, worker_process
from runtime.processes import ManagedProcess

CALLS = int(os.environ.get("B4_CALLS", "2000"))
HOLD_S = 100  # under the worker's 120 s call timeout: a job whose call ends moves on to its next (held) call
SETTLE_S = 5.0  # RSS is sampled this long after the last call arrived
FILL_TIMEOUT_S = 240.0  # past this the peak so far is recorded with how many calls were held
STARTS_AT_ONCE = 64  # 2,000 start_workflow calls at once time out on a busy dev server


def _marked(i: int, tag: str) -> str:
    return f"{QUESTIONS[i % len(QUESTIONS)]} (#{i}) [[sim:latency={HOLD_S}s]] {tag}"


async def _pending(client: httpx.AsyncClient, sim_url: str, prefix: str) -> int:
    """How many calls whose Idempotency-Key starts with prefix the simulator holds right now."""
    ledger = (await client.get(f"{sim_url}/sim/ledger", params={"prefix": prefix})).json()
    return sum(1 for entry in ledger["entries"].values() for call in entry["calls"] if call["status"] == "pending")


async def _hold(name: str, pid: int, sim_url: str, prefix: str) -> dict[str, Any]:
    """Sample pid's RSS until CALLS calls under prefix are pending in the simulator, then SETTLE_S more; the peak."""
    proc = psutil.Process(pid)
    idle = proc.memory_info().rss
    peak, held, most, full_at = idle, 0, 0, None
    start = time.monotonic()
    async with httpx.AsyncClient(timeout=30) as client:
        while True:
            peak = max(peak, proc.memory_info().rss)
            held = await _pending(client, sim_url, prefix)
            if held >= CALLS and full_at is None:
                full_at = time.monotonic()
            if full_at is not None and time.monotonic() - full_at >= SETTLE_S:
                break
            if time.monotonic() - start > FILL_TIMEOUT_S:
                break  # recorded as is: `most_held` says how far it got
            await asyncio.sleep(1.0)
            most = max(most, held)
    fill_s = (full_at or time.monotonic()) - start
    summary = {
        "idle_mib": round(idle / 2**20, 1),
        "peak_mib": round(peak / 2**20, 1),
        "kib_per_call": round((peak - idle) / 1024 / max(1, most, held), 1),
        "fill_s": round(fill_s, 1),
        "most_held": max(most, held),
    }
    print(f"{name}: {held} calls held; {summary}", file=sys.stderr, flush=True)
    return summary


async def subject(stack: BenchStack) -> dict[str, Any]:
    """CALLS AnswerQuestion jobs held at their first model call in one worker process; its RSS."""
    from schemas.answer import AnswerRequest
    from schemas.jobs import Pipeline
    from starter.client import GenAIFlowClient

    proc = worker_process(stack, "b4-worker", CALLS)
    proc.start(timeout=90)
    try:
        assert proc.pid is not None
        jobs = GenAIFlowClient(stack.client, stack.settings)
        # Warm-up: imports, connections and the sandbox's module cache, as any worker that has served a job.
        warm = [AnswerRequest(question=QUESTIONS[i], collection=stack.collection) for i in range(3)]
        for started in await asyncio.gather(*(jobs.start(Pipeline.ANSWER, req) for req in warm)):
            await stack.client.get_workflow_handle(started.job_id).result()
        tag = f"#w{uuid.uuid4().hex[:6]}"
        gate = asyncio.Semaphore(STARTS_AT_ONCE)

        async def start(i: int) -> None:
            async with gate:
                await jobs.start(Pipeline.ANSWER, AnswerRequest(question=_marked(i, tag), collection=stack.collection))

        starting = asyncio.gather(*(start(i) for i in range(CALLS)))
        held = await _hold("genai-flow worker", proc.pid, stack.sim_url, "answer-")
        starting.cancel()  # starts still queued when the hold ended are not needed
        with contextlib.suppress(asyncio.CancelledError):
            await starting
        return held
    finally:
        proc.stop()


async def baseline(stack: BenchStack) -> dict[str, Any]:
    """The same CALLS embedding requests held by a bare asyncio + httpx process (bench/b4_bare.py); its RSS."""
    prefix = f"bare-{uuid.uuid4().hex[:6]}-"
    ready_file = stack.state_dir / f"{prefix}ready"
    argv = [sys.executable, "-m", "bench.b4_bare", stack.sim_url, prefix, str(CALLS), str(HOLD_S), str(ready_file)]
    log = stack.state_dir / "logs" / "b4-bare.log"
    proc = ManagedProcess("b4-bare", argv, ready_file.exists, log, cwd=REPO)
    proc.start(timeout=60)
    try:
        assert proc.pid is not None
        return await _hold("bare asyncio + httpx", proc.pid, stack.sim_url, prefix)
    finally:
        proc.stop()


def _raise_fd_limit() -> None:
    """Enough descriptors for CALLS connections on each side (children inherit the limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else hard
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


async def main() -> None:
    """One stack; the baseline's calls held, then the worker's; B4 recorded."""
    _raise_fd_limit()
    async with bench_stack("b4") as stack:
        bare = await baseline(stack)
        genai = await subject(stack)
    details = {"calls": CALLS, "hold_s": HOLD_S, "bare": bare, "genai": genai}
    record("b4_worker_rss", "<= 2.0", bare["peak_mib"], genai["peak_mib"], "MiB", details)


if __name__ == "__main__":
    asyncio.run(main())
