"""B7: tokens per minute the provider counted with the model router's limiter / the provider's TPM (target >= 0.9,
with at most 1% of provider calls answered 429); baseline: the same burst with the limiter off.

A private stack (bench/stack.py) indexes the corpus; then a second simulator, limited to a TPM, is the provider.
Three `genai-flow worker` processes serve a burst of JOBS answer jobs started together, twice:
1. limiter off (no models file): the workers call the provider as fast as their slots allow and learn the limit
   from its 429s (Throttled, retried after the provider's Retry-After);
2. limiter on (a models file naming the provider with the same TPM): the workers wait for capacity in Redis.
The provider is reset between runs. The TPM is sized from warm-up jobs so that the burst needs BURST_WINDOWS
windows' worth of the limit: TPM-bound, and under five minutes per run.

What counts is the steady rate: a burst into an empty window takes a whole window's worth at once (as a provider
allows), so the rate is measured from the end of the first window to the provider's last counted call, sampling
`GET /sim/limits` twice a second; the whole-run rate is in the details too.
Run: `python -m bench.bench_b7_router` (about ten minutes); `B7_JOBS=20 B7_WINDOW_S=5` for a quick look.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from bench.harness import record
from bench.stack import QUESTIONS, BenchStack, bench_stack
from runtime import services
from runtime.processes import ManagedProcess, free_port
from schemas.answer import AnswerRequest
from schemas.jobs import JobStatus, Pipeline
from starter.client import GenAIFlowClient

JOBS = int(os.environ.get("B7_JOBS", "200"))
WORKERS = 3
CONCURRENCY = 32
WARMUP_JOBS = 5
BURST_WINDOWS = float(os.environ.get("B7_WINDOWS", "4"))
WINDOW_S = float(os.environ.get("B7_WINDOW_S", "60"))  # the provider's window (make bench: 30 s; 5 s for a quick look)
# Small output bounds keep a job's tokens (and so the burst) small enough for a TPM this machine can serve.
MAX_TOKENS = "summarize=256,extract_entities=256,generate_answer=128,default=128"
JOB_TIMEOUT_S = 420.0
REPO = Path(__file__).resolve().parent.parent


def worker(stack: BenchStack, n: int, provider_port: int, models_file: Path | None) -> ManagedProcess:
    """`genai-flow worker` number n, calling the provider directly or through the models file."""
    metrics_port = free_port()
    env = {
        **stack.child_env(),
        "GENAI_FLOW_SIM_PORT": str(provider_port),
        "GENAI_FLOW_MAX_CONCURRENT_ACTIVITIES": str(CONCURRENCY),
        "GENAI_FLOW_METRICS_PORT": str(metrics_port),
        "GENAI_FLOW_MAX_TOKENS": MAX_TOKENS,
    }
    if models_file is not None:
        env["GENAI_FLOW_MODELS_FILE"] = str(models_file)
    argv = [sys.executable, "-m", "starter.cli", "worker"]
    ready = partial(services.http_ok, f"http://127.0.0.1:{metrics_port}/metrics")
    log = stack.state_dir / "logs" / f"b7-worker-{n}.log"
    return ManagedProcess(f"b7-worker-{n}", argv, ready, log, env=env, cwd=REPO)


async def burst(flow: GenAIFlowClient, stack: BenchStack, count: int, tag: str) -> tuple[list[str], float]:
    """Start `count` answer jobs together and wait for all; (job ids, seconds from first start to last result)."""
    started_at = time.monotonic()
    requests = [
        AnswerRequest(question=f"{QUESTIONS[i % len(QUESTIONS)]} ({tag} {i})", collection=stack.collection)
        for i in range(count)
    ]
    started = await asyncio.gather(*(flow.start(Pipeline.ANSWER, r) for r in requests))
    infos = await asyncio.wait_for(asyncio.gather(*(flow.wait(s.job_id, poll_s=1.0) for s in started)), JOB_TIMEOUT_S)
    elapsed = time.monotonic() - started_at
    failed = [i.error for i in infos if i.status is not JobStatus.COMPLETED]
    if failed:
        raise RuntimeError(f"{len(failed)} of {count} jobs did not complete: {failed[:3]}")
    return [s.job_id for s in started], elapsed


async def sample(url: str, into: list[tuple[float, int]], stop: asyncio.Event) -> None:
    """(seconds since start, tokens the provider counted) twice a second until stopped."""
    start = time.monotonic()
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        while not stop.is_set():
            counted = (await http.get("/sim/limits")).json()["counted_tokens_total"]
            into.append((time.monotonic() - start, counted))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)


def steady_rate(samples: list[tuple[float, int]]) -> float | None:
    """Tokens per window from the end of the first window to the last counted call; None if the burst fit in one."""
    final = samples[-1][1]
    last = next(t for t, n in samples if n == final)
    after = [(t, n) for t, n in samples if t >= WINDOW_S]
    if not after or last - after[0][0] < WINDOW_S / 4:
        return None
    return (final - after[0][1]) / (last - after[0][0]) * WINDOW_S


async def provider_view(url: str, job_ids: list[str]) -> dict[str, Any]:
    """The provider's counted tokens and the statuses of the burst's calls."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        limits = (await http.get("/sim/limits")).json()
        ledger = (await http.get("/sim/ledger")).json()
    ours = set(job_ids)
    calls = [c for k, e in ledger["entries"].items() if k.split("/")[0] in ours for c in e["calls"]]
    return {
        "counted_tokens": limits["counted_tokens_total"],
        "calls": len(calls),
        "answered_429": sum(1 for c in calls if c["status"] == 429),
    }


async def run(stack: BenchStack, provider_url: str, port: int, models: Path | None, tag: str) -> dict[str, Any]:
    """One burst through three fresh workers; its figures."""
    procs = [worker(stack, n, port, models).start(timeout=120) for n in range(WORKERS)]
    try:
        flow = GenAIFlowClient(stack.client, stack.settings)
        async with httpx.AsyncClient(base_url=provider_url) as http:
            await http.post("/sim/reset")
        samples: list[tuple[float, int]] = []
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample(provider_url, samples, stop))
        try:
            jobs, elapsed = await burst(flow, stack, JOBS, tag)
        finally:
            stop.set()
            await sampler
    finally:
        for proc in procs:
            proc.stop()
    view = await provider_view(provider_url, jobs)
    steady = steady_rate(samples)
    return {
        **view,
        "elapsed_s": round(elapsed, 1),
        "jobs_per_s": round(JOBS / elapsed, 3),
        "tokens_per_window_whole_run": round(view["counted_tokens"] / elapsed * WINDOW_S),
        "tokens_per_window": round(steady) if steady is not None else None,
        "share_429": round(view["answered_429"] / max(1, view["calls"]), 4),
    }


async def main() -> None:
    """Size the TPM from warm-up jobs, run the burst without and with the limiter, record B7."""
    async with bench_stack("b7") as stack:
        port = free_port()
        provider_url = f"http://127.0.0.1:{port}"
        # Warm-up on an unlimited provider: how many tokens a job counts, to size the TPM.
        sizing = services.simulator(stack.state_dir, port).start(timeout=60)
        try:
            procs = [worker(stack, 0, port, None).start(timeout=120)]
            try:
                jobs, _ = await burst(GenAIFlowClient(stack.client, stack.settings), stack, WARMUP_JOBS, "warm-up")
            finally:
                procs[0].stop()
            per_job = (await provider_view(provider_url, jobs))["counted_tokens"] / WARMUP_JOBS
        finally:
            sizing.stop()
        tpm = math.ceil(per_job * JOBS / BURST_WINDOWS)
        print(f"a job counts ~{per_job:.0f} tokens: provider limited to {tpm} TPM", file=sys.stderr, flush=True)

        flags = ["--tpm", str(tpm), "--limit-window", str(WINDOW_S)]
        provider = services.simulator(stack.state_dir, port, flags).start(timeout=60)
        models = stack.state_dir / "models.yaml"
        models.write_text(
            f'endpoints: {{provider: {{base_url: "{provider_url}/v1", tpm: {tpm}, window_s: {WINDOW_S}}}}}\n'
            "models: {sim-chat: [provider], sim-embed: [provider]}\n"
        )
        try:
            off = await run(stack, provider_url, port, None, "limiter off")
            print(f"limiter off: {off}", file=sys.stderr, flush=True)
            await asyncio.sleep(WINDOW_S + 1)  # the provider's window (and ours) empties before the next burst
            on = await run(stack, provider_url, port, models, "limiter on")
            print(f"limiter on: {on}", file=sys.stderr, flush=True)
        finally:
            provider.stop()
    record(
        "b7_router_tpm",
        ">= 0.9",
        baseline=tpm,
        value=on["tokens_per_window"] or on["tokens_per_window_whole_run"],
        unit=f"tokens per {WINDOW_S:g} s window",
        details={
            "jobs": JOBS,
            "workers": WORKERS,
            "tokens_per_job": round(per_job),
            "limit_tpm": tpm,
            "window_s": WINDOW_S,
            "max_429_share": 0.01,
            "limiter_on": on,
            "limiter_off_baseline": off,
            "met_429": on["share_429"] <= 0.01,
        },
    )


if __name__ == "__main__":
    asyncio.run(main())
