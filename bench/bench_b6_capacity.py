"""B6: completed answer jobs/s / the simulator's capacity (target >= 0.9, stretch 0.97), and the scaling table.

The simulator serves SIM_CONCURRENCY calls at once, each taking SIM_LATENCY_S (realistic seconds per call; more
calls queue), so it completes SIM_CONCURRENCY / SIM_LATENCY_S calls/s; an answer job makes CALLS_PER_JOB model
calls (the question's embedding, summary ∥ entities, the streamed answer), so capacity is that over CALLS_PER_JOB
jobs/s. Worker processes (`genai-flow worker`, SLOTS activity slots each: more than the simulator serves, so the
model is the bound) run as subprocesses; this process starts jobs and awaits their results.

- `b6_capacity`: JOBS jobs offered at once to one worker; jobs/s from the first start to the last result.
- `scaling_workers`: the same burst with 1, 2 and 4 worker processes (value: 4 workers; baseline: 1 worker).
- `scaling_overload`: one worker, open-loop arrivals at LOADS x capacity for LOAD_S each: p50/p99 latency per
  level; the value is the share of offered jobs answered (target: all of them, nothing failed or dropped).
CPU ms per answered job of every process is beside each figure.
Run: `python -m bench.bench_b6_capacity` (about ten minutes; `B6_JOBS=60` for a look).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from bench.capacity import measured, workers
from bench.harness import record
from bench.stack import bench_stack

SIM_CONCURRENCY = 16
SIM_LATENCY_S = 2.0
CALLS_PER_JOB = 4
CAPACITY = SIM_CONCURRENCY / SIM_LATENCY_S / CALLS_PER_JOB  # jobs/s
JOBS = int(os.environ.get("B6_JOBS", "200"))
SLOTS = 64
WORKER_COUNTS = (1, 2, 4)
LOADS = (0.5, 1.0, 1.5, 2.0)
LOAD_S = float(os.environ.get("B6_LOAD_S", "20"))
SIM_FLAGS = ("--latency", str(SIM_LATENCY_S), "--concurrency", str(SIM_CONCURRENCY))


async def main() -> None:
    """Bursts with 1, 2 and 4 workers, then rising open-loop load on one; three results recorded."""
    bursts: dict[int, dict[str, Any]] = {}
    levels: list[dict[str, Any]] = []
    async with bench_stack("b6", SIM_FLAGS) as stack:
        for count in WORKER_COUNTS:
            with workers(stack, count, SLOTS) as procs:
                await measured(stack, procs, [0.0] * 4, f"warm-up {count}w")  # imports, connections, sandbox
                bursts[count] = await measured(stack, procs, [0.0] * JOBS, f"burst {count}w")
                if count == 1:
                    for load in LOADS:
                        rate = load * CAPACITY
                        delays = [i / rate for i in range(round(rate * LOAD_S))]
                        levels.append({"load": load, **await measured(stack, procs, delays, f"load {load}x")})
    common = {
        "simulator": {"concurrency": SIM_CONCURRENCY, "latency_s": SIM_LATENCY_S},
        "calls_per_job": CALLS_PER_JOB,
        "capacity_jobs_per_s": CAPACITY,
        "worker_slots": SLOTS,
    }
    one = bursts[1]
    record("b6_capacity", ">= 0.9", CAPACITY, one["jobs_per_s"], "jobs/s", {**common, "jobs": JOBS, "burst": one})
    workers_details = {**common, "jobs": JOBS, "bursts": {str(n): b for n, b in bursts.items()}}
    last = bursts[WORKER_COUNTS[-1]]
    record("scaling_workers", ">= 0.9", one["jobs_per_s"], last["jobs_per_s"], "jobs/s", workers_details)
    offered = sum(level["offered"] for level in levels)
    answered = sum(level["answered"] for level in levels)
    overload = {**common, "load_s": LOAD_S, "levels": levels}
    record("scaling_overload", ">= 1.0", offered, answered, "jobs", overload)


if __name__ == "__main__":
    asyncio.run(main())
