"""B3's load driver: one side's open-loop requests, in a process of its own (uvloop), latencies reported as JSON.

Both sides of B3 are driven the same way, so neither shares an event loop, a GIL or a client with the other:
`bare` calls `start_workflow` with the arguments the client passes; `gateway` POSTs `/v1/answers` over plain
keep-alive connections (bench/raw_http.py). On two shared cores the load generator's CPU is taken from the gateway
and Temporal, so the gateway side uses the cheapest client: httpx's pool cost several ms of CPU per request once
hundreds of connections were open, aiohttp about 1 ms, bench/raw_http.py a fraction of that. Commands arrive on
stdin, one JSON line each, `{"count": N, "rate": R, "offset": K}` (with `"path": "/healthz"`: time a trivial GET
instead); each is answered with one JSON line `{"latencies": [...], "retries": n, "cpu_s": x}`. The environment
carries the stack's settings. Run by bench/bench_b3_gateway.py: `python -m bench.b3_driver bare COLLECTION` or
`... gateway COLLECTION URL KEY`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import partial

import uvloop
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy

from bench.raw_http import ConnectionClosedError, RawHTTP
from bench.stack import QUESTIONS
from runtime.settings import get_settings
from runtime.temporal import connect
from schemas import queues
from schemas import search_attributes as sa
from schemas.answer import AnswerRequest
from schemas.jobs import Pipeline
from starter.client import request_digest
from starter.webui import job_details

WARM_UP = 50  # requests each driver sends before it reports ready: connections open, first calls done


async def open_loop(send: Callable[[int], Awaitable[object]], rate: float, count: int, offset: int = 0) -> list[float]:
    """Send `count` requests at `rate`/s regardless of answers; seconds from each scheduled send to its answer.

    In send order, so request i was answered i / rate + latencies[i] after the first was due.
    """
    latencies = [0.0] * count
    start = time.perf_counter() + 0.05

    async def one(i: int, scheduled: float) -> None:
        await send(offset + i)
        latencies[i] = time.perf_counter() - scheduled

    tasks = []
    for i in range(count):
        scheduled = start + i / rate
        if (delay := scheduled - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, scheduled)))
    await asyncio.gather(*tasks)
    return latencies


def question(i: int) -> str:
    """The i-th request's question (distinct, so no two requests hash alike)."""
    return f"{QUESTIONS[i % len(QUESTIONS)]} (#{i})"


class BareSide:
    """`start_workflow` with what `GenAIFlowClient.start` passes for an Idempotency-Keyed answer job."""

    retries = 0

    def __init__(self, client: Client, collection: str, task_queue: str) -> None:
        self.client = client
        self.collection = collection
        self.task_queue = task_queue

    async def send(self, i: int) -> None:
        """Start one job on the unpolled queue."""
        request = AnswerRequest(question=question(i), collection=self.collection, step_deadline_s=600)
        await self.client.start_workflow(
            "AnswerQuestion",
            request,
            id=f"answer-{uuid.uuid4().hex}",
            task_queue=self.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            memo={"request_sha256": request_digest(request), "owner": "bench", "replay_of": ""},
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(sa.PIPELINE, "answer"), SearchAttributePair(sa.OWNER, "bench")]
            ),
            static_summary=f"answer: {request.question}",
            static_details=job_details(Pipeline.ANSWER, request, "bench", None),
        )

    async def probe(self, _i: int, path: str) -> None:
        """Only the gateway side has a trivial endpoint to time."""
        raise ValueError(f"the bare side has no {path}")


class GatewaySide:
    """POST /v1/answers (or GET a trivial path) over keep-alive connections (bench/raw_http.py); counts retries."""

    def __init__(self, http: RawHTTP, collection: str, run: str) -> None:
        self.http = http
        self.collection = collection
        self.run = run
        self.retries = 0

    async def send(self, i: int) -> None:
        """One job; a connection the server closed while idle (keep-alive race) is retried once, same key, same job."""
        body = json.dumps({"question": question(i), "collection": self.collection}).encode()
        headers = {"Content-Type": "application/json", "Idempotency-Key": f"{self.run}-{i}"}
        try:
            status, answer = await self.http.request("POST", "/v1/answers", body, headers)
        except ConnectionClosedError:
            self.retries += 1
            status, answer = await self.http.request("POST", "/v1/answers", body, headers)
        if status != 202:
            raise RuntimeError(f"gateway answered {status}: {answer[:200]!r}")

    async def probe(self, _i: int, path: str) -> None:
        """A GET whose answer costs the server next to nothing: the driver's own latency floor."""
        status, _ = await self.http.request("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}")


async def serve(side: BareSide | GatewaySide) -> None:
    """Answer each command line on stdin with one latency report on stdout, until stdin closes."""
    loop = asyncio.get_running_loop()
    await open_loop(side.send, 200.0, WARM_UP, offset=10**9)
    print(json.dumps({"ready": True}), flush=True)
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        command = json.loads(line)
        path = command.get("path")
        send = side.send if path is None else partial(side.probe, path=path)
        retries, cpu = side.retries, time.process_time()
        latencies = await open_loop(send, float(command["rate"]), int(command["count"]), int(command.get("offset", 0)))
        report = {"latencies": latencies, "retries": side.retries - retries, "cpu_s": time.process_time() - cpu}
        print(json.dumps(report), flush=True)


async def main(argv: list[str]) -> None:
    """`bare COLLECTION` or `gateway COLLECTION URL KEY`."""
    side, collection = argv[0], argv[1]
    settings = get_settings()
    if side == "bare":
        client = await connect(settings)
        await serve(BareSide(client, collection, queues.queue(queues.WORKFLOWS, settings.task_queue_prefix)))
        return
    url, key = argv[2], argv[3]
    # No connection cap: an open-loop client opens what the backlog needs, as B3's first drivers did.
    host, _, port = url.removeprefix("http://").rstrip("/").rpartition(":")
    http = RawHTTP(host, int(port), {"Authorization": f"Bearer {key}"})
    try:
        await serve(GatewaySide(http, collection, uuid.uuid4().hex[:8]))
    finally:
        http.close()


if __name__ == "__main__":
    uvloop.run(main(sys.argv[1:]))
