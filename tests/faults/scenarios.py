"""The fault scenarios: each runs a load of answers on a FaultStack, injects one fault mid-run, returns its row.

`size` scales a scenario: the short version (`make test`) runs a few jobs and short hangs; `make faults` runs the
full ones (tests/faults/run.py).
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable

import httpx
import psutil

from runtime.keys import RedisKeys
from tests.faults.harness import FaultRow, FaultStack

SETTLE_S = 1.5  # after submitting, so the first model calls are in flight when the fault lands
RUN = ".venv/bin/python -m tests.faults.run"


def _run(
    stack: FaultStack,
    name: str,
    jobs: int,
    fault: Callable[[], float | None],
    timeout_s: float,
    latency_s: float = 3.0,
    poison: int = 0,
) -> FaultRow:
    with httpx.Client(base_url=stack.gateway, timeout=30) as http:
        ids = stack.submit(http, jobs, f"{name}-{random.randrange(1 << 30)}", latency_s, poison)
        time.sleep(SETTLE_S)
        killed_at = fault()
        status = stack.wait(http, ids, timeout_s)
    return stack.row(name, ids, status, f"{RUN} {name.split()[0]}", killed_at)


def f1_worker_killed(stack: FaultStack, jobs: int = 20) -> FaultRow:
    """F1: kill -9 a random worker process while its model calls are in flight (`up` restarts the stack's one)."""

    def kill() -> float:
        victim = random.choice(stack.workers())
        psutil.Process(victim).kill()
        killed_at = time.time()
        for proc in stack.extra:
            if proc.pid == victim:
                proc.wait()
                stack.extra.remove(proc)
                stack.start_worker(len(stack.extra) + 100)  # as a deployment's supervisor would
                break
        return killed_at

    return _run(stack, "F1 worker kill -9", jobs, kill, timeout_s=180)


def f2_temporal_killed(stack: FaultStack, jobs: int = 20) -> FaultRow:
    """F2: kill -9 the Temporal dev server mid-run; `up` restarts it on the same database."""

    def kill() -> float:
        stack.process("server start-dev").kill()
        return time.time()

    return _run(stack, "F2 temporal kill -9", jobs, kill, timeout_s=240)


def f3_redis_hung(stack: FaultStack, hang_s: float, jobs: int = 20) -> FaultRow:
    """F3: Redis SIGSTOPped (hung: connections open, nothing answers) for hang_s in the middle of the calls."""

    def hang() -> None:
        with stack.hung("redis-server"):
            time.sleep(hang_s)

    return _run(stack, f"F3 redis hung {hang_s:.0f} s", jobs, hang, timeout_s=240 + hang_s)


def f3_redis_killed(stack: FaultStack, jobs: int = 20) -> FaultRow:
    """F3: Redis kill -9 mid-run; `up` restarts it from its append-only file."""

    def kill() -> None:
        stack.process("redis-server").kill()

    return _run(stack, "F3 redis kill -9", jobs, kill, timeout_s=240)


def f5_poison(stack: FaultStack, jobs: int = 100, poison: int = 5) -> FaultRow:
    """F5: `poison` prompts that always fail (500) among the jobs: exactly those are dead-lettered."""
    return _run(stack, f"F5 {poison} poison of {jobs}", jobs, lambda: None, timeout_s=300, latency_s=0.5, poison=poison)


def f6_chroma_killed(stack: FaultStack, jobs: int = 20) -> FaultRow:
    """F6: kill -9 Chroma while answers retrieve; `up` restarts it on the same data, retrievals are retried."""

    def kill() -> float:
        stack.process("chroma run").kill()
        return time.time()

    return _run(stack, "F6 chroma kill -9", jobs, kill, timeout_s=240, latency_s=0.5)


def _follow(gateway: str, job: str, ids: list[str], deadline: float) -> None:
    """Follow a job's events as EventSource does: reconnect with Last-Event-ID until a terminal event."""
    last: str | None = None
    while time.monotonic() < deadline:
        headers = {"Last-Event-ID": last} if last else {}
        try:
            with httpx.stream("GET", f"{gateway}/v1/jobs/{job}/events", headers=headers, timeout=30) as response:
                if response.status_code != 200:
                    raise httpx.HTTPError(f"status {response.status_code}")
                event: dict[str, str] = {}
                for line in response.iter_lines():
                    if line:
                        field, _, value = line.partition(":")
                        event[field] = value.strip()
                        continue
                    if "id" in event:
                        ids.append(last := event["id"])
                    if event.get("event", "").startswith("job."):
                        return
                    event = {}
        except httpx.HTTPError:
            pass  # the gateway is down or restarting: reconnect, as a browser would
        time.sleep(0.5)


def f7_gateway_killed(stack: FaultStack, jobs: int = 10) -> FaultRow:
    """F7: kill -9 the gateway while clients stream; they resume with Last-Event-ID: no event lost or doubled."""
    import threading

    import redis

    followed: dict[str, list[str]] = {}
    threads: list[threading.Thread] = []

    def kill() -> float:
        for job in followed:
            thread = threading.Thread(target=_follow, args=(stack.gateway, job, followed[job], time.monotonic() + 240))
            thread.start()
            threads.append(thread)
        time.sleep(2)  # streams open and carrying events
        stack.process("starter.cli gateway").kill()
        return time.time()

    with httpx.Client(base_url=stack.gateway, timeout=30) as http:
        ids = stack.submit(http, jobs, f"F7-{random.randrange(1 << 30)}", 1.0)
        followed.update({job: [] for job in ids})
        killed_at = kill()
        status = stack.wait(http, ids, 240)
    for thread in threads:
        thread.join(timeout=60)
    client = redis.Redis.from_url(stack.env["REDIS_URL"], decode_responses=True)
    keys = RedisKeys(stack.env.get("GENAI_FLOW_KEY_PREFIX", "genai-flow"))
    try:
        off = 0
        for job, got in followed.items():
            stored = [entry_id for entry_id, _ in client.xrange(keys.events(job))]
            off += len(got) != len(set(got)) or got != stored  # every stored event once, in order
    finally:
        client.close()
    row = stack.row("F7 gateway kill -9", ids, status, f"{RUN} F7", killed_at)
    return row.model_copy(update={"check_faults": off})


# F9's victims: every process of the stack but the simulator, whose ledger is the referee (a real provider's
# invoice survives our crashes; the simulator's ledger would not).
CHAOS_VICTIMS = ("redis-server", "server start-dev", "chroma run", "starter.cli gateway", "starter.cli worker")


def f9_chaos(stack: FaultStack, duration_s: float = 300, every_s: tuple[float, float] = (5, 20)) -> FaultRow:
    """F9: a random part of the stack killed (-9) every 5 to 20 s for duration_s under steady load (2 answers/s)."""
    import threading

    stop = threading.Event()
    kills: list[tuple[str, float]] = []  # victim and epoch time: a doubled call is printed with the kills near it

    def chaos() -> None:
        while not stop.wait(random.uniform(*every_s)):
            victim = random.choice(CHAOS_VICTIMS)
            try:
                stack.process(victim).kill()
                kills.append((victim, time.time()))
            except (AssertionError, psutil.NoSuchProcess):
                continue  # it is being restarted right now

    tag = f"F9-{random.randrange(1 << 30)}"
    ids: list[str] = []
    killer = threading.Thread(target=chaos)
    killer.start()
    with httpx.Client(base_url=stack.gateway, timeout=10) as http:
        ends = time.monotonic() + duration_s
        while time.monotonic() < ends:
            # The gateway, Temporal or Redis may be down: a client retries later.
            with contextlib.suppress(httpx.HTTPError, AssertionError):
                ids += stack.submit(http, 1, f"{tag}-{len(ids)}", 1.0)
            time.sleep(0.5)
        stop.set()
        killer.join()
        status = stack.wait(http, ids, 300)
    return stack.row(f"F9 chaos {duration_s:.0f} s ({len(kills)} kills)", ids, status, f"{RUN} F9", kills=kills)
