"""B3: gateway ack p99 / bare `start_workflow` p99 at 200 req/s with 2,000 jobs in flight (target <= 1.5).

Ack latency: 2,000 AnswerQuestion jobs are started first on queues no worker polls, so they stay in flight. Then,
per round, each side takes an open-loop 200 req/s for SECONDS: the bare side calls `client.start_workflow` from this
process with the same arguments the client passes (memo, search attributes, summary, id reuse policy), so both sides
ask the same of Temporal; the gateway side POSTs `/v1/answers` (auth, validation, Idempotency-Key, signed events URL)
to a real `genai-flow gateway`. A request whose connection the server closed (keep-alive race) is retried once
with its Idempotency-Key, as a client should. Latency runs from each request's scheduled send time (no coordinated
omission). Sides alternate per round; p99 over all rounds. Loopback only; bounded: 2 x ROUNDS x SECONDS x 200 requests.

Completed share (details): the same burst (COMPLETION_JOBS at 200 req/s) against (a) the gateway with one worker
process, every job followed to its end, and (b) a synchronous thread-pool API (bench/sync_gateway.py, 32 threads)
that holds each request until its job finishes, with a client timeout of CLIENT_TIMEOUT_S. Share = answered / sent.
Run: `python -m bench.bench_b3_gateway` (about four minutes).
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import partial

import httpx
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy

from bench.bench_b2_throughput import temporal_worker
from bench.harness import percentile, record
from bench.stack import QUESTIONS, BenchStack, bench_stack
from runtime import services
from runtime.processes import ManagedProcess, free_port
from schemas import queues
from schemas import search_attributes as sa
from schemas.answer import AnswerRequest
from starter.client import request_digest

RATE = 200.0
SECONDS = 4.0
ROUNDS = 3
IN_FLIGHT = 2000
COMPLETION_JOBS = 600
CLIENT_TIMEOUT_S = 30.0
COMPLETION_DEADLINE_S = 180.0
KEY = f"bench-{uuid.uuid4().hex}"


async def open_loop(send: Callable[[int], Awaitable[object]], rate: float, count: int) -> list[float]:
    """Send `count` requests at `rate`/s regardless of answers; seconds from each scheduled send to its answer."""
    latencies: list[float] = []
    start = time.perf_counter() + 0.05

    async def one(i: int, scheduled: float) -> None:
        await send(i)
        latencies.append(time.perf_counter() - scheduled)

    tasks = []
    for i in range(count):
        scheduled = start + i / rate
        if (delay := scheduled - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, scheduled)))
    await asyncio.gather(*tasks)
    return latencies


async def post_once_more(http: httpx.AsyncClient, body: dict[str, object], key: str) -> httpx.Response:
    """POST /v1/answers with an Idempotency-Key; retry once if the connection broke (the same job either way)."""
    try:
        return await http.post("/v1/answers", json=body, headers={"Idempotency-Key": key})
    except httpx.TransportError:
        return await http.post("/v1/answers", json=body, headers={"Idempotency-Key": key})


def gateway_process(stack: BenchStack, prefix: str) -> ManagedProcess:
    """`genai-flow gateway` on `prefix`'s queues, one API key, no rate limit."""
    proc = services.gateway(stack.state_dir, free_port())
    proc.env = {
        **stack.child_env(),
        "GENAI_FLOW_TASK_QUEUE_PREFIX": prefix,
        "GENAI_FLOW_API_KEYS": KEY,
        "GENAI_FLOW_RATE_LIMIT": "off",
    }
    return proc


def _url(proc: ManagedProcess) -> str:
    return f"http://127.0.0.1:{proc.argv[proc.argv.index('--port') + 1]}"


def _question(i: int) -> str:
    return f"{QUESTIONS[i % len(QUESTIONS)]} (#{i})"


async def ack_latency(stack: BenchStack) -> tuple[float, float, dict[str, object]]:
    """(bare p99, gateway p99, details) in seconds, with IN_FLIGHT jobs waiting on an unpolled queue."""
    prefix = f"{stack.settings.task_queue_prefix}idle-"
    task_queue = queues.queue(queues.WORKFLOWS, prefix)
    request = AnswerRequest(question=QUESTIONS[0], collection=stack.collection, step_deadline_s=600)

    digest = request_digest(request)

    async def bare(_i: int) -> None:
        await stack.client.start_workflow(
            "AnswerQuestion",
            request,
            id=f"answer-{uuid.uuid4().hex}",
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            memo={"request_sha256": digest, "owner": "bench", "replay_of": ""},
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(sa.PIPELINE, "answer"), SearchAttributePair(sa.OWNER, "bench")]
            ),
            static_summary=f"answer: {request.question}",
        )

    gate = asyncio.Semaphore(64)

    async def prestart(i: int) -> None:
        async with gate:
            await bare(i)

    await asyncio.gather(*(prestart(i) for i in range(IN_FLIGHT)))
    gateway = gateway_process(stack, prefix).start(timeout=90)
    try:
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
        headers = {"Authorization": f"Bearer {KEY}"}
        async with httpx.AsyncClient(base_url=_url(gateway), headers=headers, limits=limits, timeout=60) as http:

            async def via_gateway(i: int) -> None:
                response = await http.post(
                    "/v1/answers", json={"question": _question(i), "collection": stack.collection}
                )
                if response.status_code != 202:
                    raise RuntimeError(f"gateway answered {response.status_code}: {response.text[:200]}")

            count = int(RATE * SECONDS)
            await open_loop(via_gateway, RATE, 50)  # warm-up: connections, first requests
            samples: dict[str, list[float]] = {"bare": [], "gateway": []}
            sides = {"bare": bare, "gateway": via_gateway}
            for round_ in range(ROUNDS):
                order = ["bare", "gateway"] if round_ % 2 == 0 else ["gateway", "bare"]
                for name in order:
                    samples[name] += await open_loop(sides[name], RATE, count)
                    print(
                        f"round {round_ + 1} {name}: p99 {percentile(samples[name], 99) * 1000:.1f} ms", file=sys.stderr
                    )
    finally:
        gateway.stop()
    details: dict[str, object] = {
        f"{side}_{stat}_ms": round(percentile(values, pct) * 1000, 2)
        for side, values in samples.items()
        for stat, pct in (("p50", 50), ("p99", 99))
    }
    details.update(in_flight_at_start=IN_FLIGHT, requests_per_side=len(samples["bare"]), offered_rate_per_s=RATE)
    return percentile(samples["bare"], 99), percentile(samples["gateway"], 99), details


async def completed_share(stack: BenchStack) -> dict[str, object]:
    """Answered share of a COMPLETION_JOBS burst: the async gateway + worker versus a blocking thread-pool API."""
    from starter.client import GenAIFlowClient

    worker = temporal_worker(stack).start(timeout=90)
    gateway = gateway_process(stack, stack.settings.task_queue_prefix).start(timeout=90)
    sync_port = free_port()
    sync = ManagedProcess(
        "sync-gateway",
        [sys.executable, "-m", "bench.sync_gateway", str(sync_port)],
        partial(services.http_ok, f"http://127.0.0.1:{sync_port}/healthz"),
        stack.state_dir / "logs" / "sync-gateway.log",
        env=stack.child_env(),
    ).start(timeout=90)
    flow = GenAIFlowClient(stack.client, stack.settings)
    try:
        limits = httpx.Limits(max_connections=2000, max_keepalive_connections=2000)
        headers = {"Authorization": f"Bearer {KEY}"}
        body = {"collection": stack.collection}
        job_ids: list[str] = []
        started = time.perf_counter()
        async with httpx.AsyncClient(base_url=_url(gateway), headers=headers, limits=limits, timeout=60) as http:

            async def submit(i: int) -> None:
                response = await post_once_more(http, {**body, "question": _question(i)}, f"done-{i}")
                job_ids.append(response.json()["job_id"])

            await open_loop(submit, RATE, COMPLETION_JOBS)

        async def finished(job_id: str) -> bool:
            try:
                info = await asyncio.wait_for(flow.wait(job_id, poll_s=1.0), COMPLETION_DEADLINE_S)
            except TimeoutError:
                return False
            return info.status.value == "completed"

        ours = sum(await asyncio.gather(*(finished(j) for j in job_ids)))
        ours_s = time.perf_counter() - started

        answered = 0
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{sync_port}", limits=limits, timeout=CLIENT_TIMEOUT_S
        ) as http:

            async def blocking(i: int) -> None:
                nonlocal answered
                try:
                    response = await http.post("/v1/answers", json={**body, "question": _question(i)})
                    answered += response.status_code == 200
                except httpx.HTTPError:
                    pass  # timed out or refused: the caller got no answer

            started = time.perf_counter()
            await open_loop(blocking, RATE, COMPLETION_JOBS)
            sync_s = time.perf_counter() - started
    finally:
        for proc in (sync, gateway, worker):
            proc.stop()
    return {
        "completion_jobs": COMPLETION_JOBS,
        "gateway_completed_share": round(ours / COMPLETION_JOBS, 4),
        "gateway_all_done_s": round(ours_s, 1),
        "sync_threadpool_completed_share": round(answered / COMPLETION_JOBS, 4),
        "sync_threadpool_s": round(sync_s, 1),
        "sync_threads": 32,
        "sync_client_timeout_s": CLIENT_TIMEOUT_S,
    }


async def main() -> None:
    """Measure and record B3."""
    async with bench_stack("b3") as stack:
        bare_p99, gateway_p99, details = await ack_latency(stack)
        details.update(await completed_share(stack))
    record("b3_gateway_ack", "<= 1.5", bare_p99 * 1000, gateway_p99 * 1000, "ms (ack p99)", details)


if __name__ == "__main__":
    asyncio.run(main())
