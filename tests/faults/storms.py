"""F4, provider storms: the simulator throttles half the calls for a minute, goes down with 503s, or hangs calls.

Every job must complete, none be dead-lettered (throttling never counts toward the attempts that dead-letter a step),
and every retry after a 429 or 503 must arrive no sooner than its Retry-After asked: read from the ledger's arrival
times, each row's `check_faults` counts the retries that came early.
"""

from __future__ import annotations

import itertools
import random
import time

import httpx

from schemas.sim import SimLedgerEntry
from tests.faults.harness import FaultRow, FaultStack

RUN = ".venv/bin/python -m tests.faults.run"
RETRY_AFTER_S = 1.0  # the simulator's --retry-after as `up` starts it (the default)
EARLY_SLACK_S = 0.05  # clock reading on both sides of the ledger's arrival times


def early_retries(entries: list[SimLedgerEntry], storm_ends: float) -> int:
    """Calls after a 429/503 that arrived sooner than that response's Retry-After asked (shorter near the end).

    Prints how many calls were refused and the shortest wait after one, as a share of what it asked.
    """
    early, refusals, shortest = 0, 0, float("inf")
    for entry in entries:
        calls = sorted(entry.calls, key=lambda c: c.arrival)
        for refused, retry in itertools.pairwise(calls):
            if refused.status not in (429, 503):
                continue
            refusals += 1
            asked = min(RETRY_AFTER_S, storm_ends - refused.arrival)
            waited = retry.arrival - refused.arrival
            shortest = min(shortest, waited / asked) if asked > 0 else shortest
            early += waited < asked - EARLY_SLACK_S
    print(f"F4: {refusals} refused calls retried; shortest wait {shortest:.2f} x Retry-After; {early} early")
    return early


def _storm(stack: FaultStack, name: str, status: int, seconds: float, rate: float, jobs: int) -> FaultRow:
    """Jobs submitted evenly over the first half of a storm of `status` (a `rate` share of calls) for `seconds`."""
    tag = f"F4-{random.randrange(1 << 30)}"
    with httpx.Client(base_url=stack.gateway, timeout=30) as http:
        started = httpx.post(
            f"{stack.sim}/sim/outage", json={"status": status, "seconds": seconds, "rate": rate}, timeout=30
        )
        started.raise_for_status()
        storm_ends = time.time() + seconds
        ids: list[str] = []
        for n in range(jobs):
            ids += stack.submit(http, 1, f"{tag}-{n}", 1.0)
            time.sleep(seconds / 2 / jobs)
        status_of = stack.wait(http, ids, seconds + 240)
    row = stack.row(name, ids, status_of, f"{RUN} F4")
    return row.model_copy(update={"check_faults": early_retries(list(stack.entries(ids).values()), storm_ends)})


def f4_throttled(stack: FaultStack, seconds: float = 60, jobs: int = 30) -> FaultRow:
    """F4: half the provider's answers are 429 (with Retry-After) for `seconds`."""
    return _storm(stack, f"F4 429 for half the calls, {seconds:.0f} s", 429, seconds, 0.5, jobs)


def f4_outage(stack: FaultStack, seconds: float = 30, jobs: int = 20) -> FaultRow:
    """F4: every call answered 503 (with Retry-After) for `seconds`."""
    return _storm(stack, f"F4 503 outage {seconds:.0f} s", 503, seconds, 1.0, jobs)


def f4_hanging(stack: FaultStack, jobs: int = 10) -> FaultRow:
    """F4: each job's first model call hangs (never answers); the client's timeout ends it and the step retries."""
    tag = f"F4h-{random.randrange(1 << 30)}"
    with httpx.Client(base_url=stack.gateway, timeout=30) as http:
        ids: list[str] = []
        for n in range(jobs):
            ids += stack.submit(http, 1, f"{tag}-{n}", 1.0, markers=f"[[sim:hangx1#{tag}-{n}]]")
        status = stack.wait(http, ids, 600)
    return stack.row("F4 first call of each job hangs", ids, status, f"{RUN} F4")
