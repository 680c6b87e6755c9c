"""B3: gateway ack p99 / bare `start_workflow` p99 at 200 req/s with 2,000 jobs in flight (target <= 1.5).

Ack latency: 2,000 AnswerQuestion jobs are started first on queues no worker polls, so they stay in flight. Then,
per round, each side takes an open-loop 200 req/s for SECONDS, sent by a driver process of its own
(bench/b3_driver.py, uvloop; both drivers are started and warmed before the first round and idle while the other
side runs): the bare driver calls `client.start_workflow` with the arguments the client passes (memo, search
attributes, summary, details, id reuse policy), so both sides ask the same of Temporal; the gateway driver POSTs
`/v1/answers` over keep-alive connections (bench/raw_http.py; auth, validation, Idempotency-Key, signed events URL)
to a real `genai-flow gateway`.
A request whose idle connection the server closed (keep-alive race) is retried once with its Idempotency-Key.
Latency runs from each request's scheduled send time (no coordinated omission). Sides alternate per round; p99 over
all rounds. The gateway driver's floor (the same open loop against `/healthz`), each driver's CPU per request and
the gateway process's own CPU per request are recorded beside the result.
Loopback only; bounded: 2 x ROUNDS x SECONDS x 200 requests.

Completed share (details): the same burst (COMPLETION_JOBS at 200 req/s) against (a) the gateway with one worker
process, every job followed to its end, and (b) a synchronous thread-pool API (bench/sync_gateway.py, 32 threads)
that holds each request until its job finishes, with a client timeout of CLIENT_TIMEOUT_S. Share = answered / sent.
Run: `python -m bench.bench_b3_gateway` (about four minutes).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from asyncio.subprocess import PIPE
from functools import partial
from typing import Any

import aiohttp
import psutil

from bench.b3_driver import BareSide, open_loop, question
from bench.harness import percentile, record
from bench.stack import BenchStack, bench_stack, worker_process
from runtime import services
from runtime.processes import ManagedProcess, free_port
from schemas import queues

RATE = 200.0
SECONDS = 4.0
ROUNDS = 3
IN_FLIGHT = 2000
COMPLETION_JOBS = 600
CLIENT_TIMEOUT_S = 30.0
COMPLETION_DEADLINE_S = 180.0
KEY = f"bench-{uuid.uuid4().hex}"


async def post_once_more(http: aiohttp.ClientSession, body: dict[str, str], key: str) -> dict[str, Any]:
    """POST /v1/answers with an Idempotency-Key; retry once if the connection broke (the same job either way)."""
    try:
        return await _post_json(http, body, key)
    except aiohttp.ServerDisconnectedError:
        return await _post_json(http, body, key)


async def _post_json(http: aiohttp.ClientSession, body: dict[str, str], key: str) -> dict[str, Any]:
    async with http.post("/v1/answers", json=body, headers={"Idempotency-Key": key}) as response:
        answer: dict[str, Any] = await response.json()
        return answer


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


def process_cpu_s(proc: ManagedProcess) -> float:
    """CPU seconds (user + system) the process has used so far."""
    assert proc.pid is not None, "the process was never started"
    times = psutil.Process(proc.pid).cpu_times()
    return float(times.user + times.system)


def _url(proc: ManagedProcess) -> str:
    return f"http://127.0.0.1:{proc.argv[proc.argv.index('--port') + 1]}"


class Driver:
    """One side's driver process (bench/b3_driver.py); `run` sends it a command and returns its report."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, stack: BenchStack, prefix: str, *args: str) -> Driver:
        """Start `python -m bench.b3_driver ARGS` on `prefix`'s queues; returns once it is warm."""
        log = (stack.state_dir / "logs" / f"b3-driver-{args[0]}.log").open("ab")
        env = {**os.environ, **stack.child_env(), "GENAI_FLOW_TASK_QUEUE_PREFIX": prefix}
        argv = [sys.executable, "-m", "bench.b3_driver", *args]
        proc = await asyncio.create_subprocess_exec(*argv, stdin=PIPE, stdout=PIPE, stderr=log, env=env)
        log.close()
        driver = cls(proc)
        try:
            await asyncio.wait_for(driver._reply(), 120)
        except BaseException:
            await driver.stop()
            raise
        return driver

    async def _reply(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"B3 driver exited with {await self.proc.wait()}; see its log under the stack's logs")
        reply: dict[str, Any] = json.loads(line)
        return reply

    async def run(self, **command: object) -> dict[str, Any]:
        """One open-loop burst (`count`, `rate`, `offset`, optional `path`); its latencies, retries and CPU."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command).encode() + b"\n")
        await self.proc.stdin.drain()
        return await self._reply()

    async def stop(self) -> None:
        """Close its stdin (it exits when stdin ends); kill it if it does not."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


def served_rate(latencies: list[float]) -> float:
    """Answers per second over one burst (below RATE when the side could not keep up and a queue grew)."""
    last = max(i / RATE + latency for i, latency in enumerate(latencies))
    return round(len(latencies) / last, 1)


def _ms(values: list[float], pct: float) -> float:
    return round(percentile(values, pct) * 1000, 2)


async def ack_latency(stack: BenchStack) -> tuple[float, float, dict[str, object]]:
    """(bare p99, gateway p99, details) in seconds, with IN_FLIGHT jobs waiting on an unpolled queue."""
    prefix = f"{stack.settings.task_queue_prefix}idle-"
    prestart = BareSide(stack.client, stack.collection, queues.queue(queues.WORKFLOWS, prefix)).send
    gate = asyncio.Semaphore(64)

    async def one(i: int) -> None:
        async with gate:
            await prestart(-1 - i)

    await asyncio.gather(*(one(i) for i in range(IN_FLIGHT)))
    gateway = gateway_process(stack, prefix).start(timeout=90)
    drivers: dict[str, Driver] = {}
    try:
        drivers["bare"] = await Driver.start(stack, prefix, "bare", stack.collection)
        drivers["gateway"] = await Driver.start(stack, prefix, "gateway", stack.collection, _url(gateway), KEY)
        count = int(RATE * SECONDS)
        # The driver's own floor: the same open loop against a GET that costs the gateway next to nothing.
        floor = await drivers["gateway"].run(rate=RATE, count=count, path="/healthz")
        samples: dict[str, list[float]] = {"bare": [], "gateway": []}
        cpu_s = {"bare": 0.0, "gateway": 0.0}
        answered_rate: dict[str, list[float]] = {"bare": [], "gateway": []}
        retries = 0
        gateway_cpu_s = 0.0
        for round_ in range(ROUNDS):
            order = ["bare", "gateway"] if round_ % 2 == 0 else ["gateway", "bare"]
            for name in order:
                cpu_before = process_cpu_s(gateway)
                report = await drivers[name].run(rate=RATE, count=count, offset=round_ * count)
                if name == "gateway":
                    gateway_cpu_s += process_cpu_s(gateway) - cpu_before
                samples[name] += report["latencies"]
                answered_rate[name].append(served_rate(report["latencies"]))
                cpu_s[name] += report["cpu_s"]
                retries += report["retries"]
                print(f"round {round_ + 1} {name}: p99 {_ms(samples[name], 99):.1f} ms", file=sys.stderr)
    finally:
        for driver in drivers.values():
            await driver.stop()
        gateway.stop()
    details: dict[str, object] = {
        f"{side}_{stat}_ms": _ms(values, pct)
        for side, values in samples.items()
        for stat, pct in (("p50", 50), ("p99", 99))
    }
    details.update(
        in_flight_at_start=IN_FLIGHT,
        requests_per_side=len(samples["bare"]),
        offered_rate_per_s=RATE,
        driver_healthz_p50_ms=_ms(floor["latencies"], 50),
        driver_healthz_p99_ms=_ms(floor["latencies"], 99),
        gateway_requests_retried=retries,
        bare_answers_per_s_by_round=answered_rate["bare"],
        gateway_answers_per_s_by_round=answered_rate["gateway"],
    )
    details["gateway_cpu_ms_per_request"] = round(gateway_cpu_s / len(samples["gateway"]) * 1000, 3)
    details.update(
        {f"driver_{side}_cpu_ms_per_request": round(cpu / len(samples[side]) * 1000, 3) for side, cpu in cpu_s.items()}
    )
    return percentile(samples["bare"], 99), percentile(samples["gateway"], 99), details


async def completed_share(stack: BenchStack) -> dict[str, object]:
    """Answered share of a COMPLETION_JOBS burst: the async gateway + worker versus a blocking thread-pool API."""
    from starter.client import GenAIFlowClient

    worker = worker_process(stack, "genai-worker", 32).start(timeout=90)  # B2's worker
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
        # aiohttp, no connection cap: httpx's pool costs milliseconds of CPU per request with hundreds open.
        connector = partial(aiohttp.TCPConnector, limit=0)
        headers = {"Authorization": f"Bearer {KEY}"}
        body = {"collection": stack.collection}
        job_ids: list[str] = []
        started = time.perf_counter()
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(
            _url(gateway), headers=headers, connector=connector(), timeout=timeout
        ) as http:

            async def submit(i: int) -> None:
                answer = await post_once_more(http, {**body, "question": question(i)}, f"done-{i}")
                job_ids.append(answer["job_id"])

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
        timeout = aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S)
        async with aiohttp.ClientSession(
            f"http://127.0.0.1:{sync_port}", connector=connector(), timeout=timeout
        ) as http:

            async def blocking(i: int) -> None:
                nonlocal answered
                try:
                    async with http.post("/v1/answers", json={**body, "question": question(i)}) as response:
                        await response.read()
                        answered += response.status == 200
                except (aiohttp.ClientError, TimeoutError):
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
