"""`make faults`: the full fault scenarios on one stack, printed as the table of docs/reliability.md.

    .venv/bin/python -m tests.faults.run            # every scenario, full size
    .venv/bin/python -m tests.faults.run F1 F3      # some of them
    .venv/bin/python -m tests.faults.run --short    # the sizes of the short version in `make test`

The table goes to stdout and to bench/results/faults.md; the exit code is 1 when any row lost a job or billed a call
twice (or F1's recovery p50 is over 10 s).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from tests.faults import pipelines, scenarios, storms
from tests.faults.harness import FaultRow, FaultStack, table

RESULTS = Path(__file__).parents[2] / "bench" / "results" / "faults.md"

# name -> (full run, short run)
SCENARIOS: dict[str, tuple[Callable[[FaultStack], list[FaultRow]], Callable[[FaultStack], list[FaultRow]]]] = {
    "F1": (
        lambda s: [
            *(scenarios.f1_worker_killed(s, jobs=25) for _ in range(3)),
            *(pipelines.f1_fault_point(s, *point) for point in pipelines.F1_POINTS),
        ],
        lambda s: [scenarios.f1_worker_killed(s, jobs=6), pipelines.f1_fault_point(s, *pipelines.F1_POINTS[3], jobs=8)],
    ),
    "F2": (lambda s: [scenarios.f2_temporal_killed(s, jobs=25)], lambda s: [scenarios.f2_temporal_killed(s, jobs=4)]),
    "F3": (
        lambda s: [
            scenarios.f3_redis_hung(s, 30, jobs=20),
            scenarios.f3_redis_hung(s, 60, jobs=25),
            scenarios.f3_redis_killed(s, jobs=25),
        ],
        lambda s: [scenarios.f3_redis_hung(s, 10, jobs=6), scenarios.f3_redis_killed(s, jobs=4)],
    ),
    "F4": (
        lambda s: [storms.f4_throttled(s, 60, jobs=30), storms.f4_outage(s, 30, jobs=20), storms.f4_hanging(s, 10)],
        lambda s: [storms.f4_throttled(s, 20, jobs=6), storms.f4_outage(s, 10, jobs=4), storms.f4_hanging(s, 3)],
    ),
    "F5": (lambda s: [scenarios.f5_poison(s, 100, 5)], lambda s: [scenarios.f5_poison(s, 10, 1)]),
    "F6": (
        lambda s: [scenarios.f6_chroma_killed(s, jobs=25), pipelines.f6_chroma_killed_ingesting(s, jobs=8)],
        lambda s: [scenarios.f6_chroma_killed(s, jobs=6), pipelines.f6_chroma_killed_ingesting(s, jobs=3)],
    ),
    "F7": (lambda s: [scenarios.f7_gateway_killed(s, jobs=20)], lambda s: [scenarios.f7_gateway_killed(s, jobs=4)]),
    "F8": (lambda s: [pipelines.f8_runaway_agents(s, jobs=4)], lambda s: [pipelines.f8_runaway_agents(s, jobs=2)]),
    "F9": (lambda s: [scenarios.f9_chaos(s, 300)], lambda s: [scenarios.f9_chaos(s, 60)]),
}
POISON = {"F5 5 poison of 100": 5, "F5 1 poison of 10": 1}  # F5 rows: exactly these many dead letters


def main(argv: list[str] | None = None) -> int:
    """Run the chosen scenarios on one stack with two extra workers; print and save the table."""
    parser = argparse.ArgumentParser(prog="python -m tests.faults.run", description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"scenarios: {', '.join(SCENARIOS)} (default: all)")
    parser.add_argument("--short", action="store_true", help="the short version's sizes")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    rows: list[FaultRow] = []
    with tempfile.TemporaryDirectory(prefix="genai-flow-faults-") as tmp:
        stack = FaultStack(Path(tmp) / "home", extra_workers=1 if args.short else 2)
        try:
            stack.start()
            for name in args.names or list(SCENARIOS):
                full, short = SCENARIOS[name]
                for row in (short if args.short else full)(stack):
                    rows.append(row)
                    print(row.model_dump_json(), flush=True)
        finally:
            stack.stop()
    text = table(rows)
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text + "\n")
    bad = [
        r
        for r in rows
        if r.lost
        or r.billed_twice
        or r.check_faults
        or r.dead_lettered != POISON.get(r.scenario, 0)
        or (r.scenario.startswith("F1") and (r.recovery_s or 0) > 10)
    ]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
