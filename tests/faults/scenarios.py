"""The fault scenarios: each runs a load of answers on a FaultStack, injects one fault mid-run, returns its row.

`size` scales a scenario: the short version (`make test`) runs a few jobs and short hangs; `make faults` runs the
full ones (tests/faults/run.py).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import httpx
import psutil

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
