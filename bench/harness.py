"""Benchmark harness: a baseline and a subject measured side by side in one run, written as a ratio.

Every benchmark writes `bench/results/<name>.json` in the CONTRACTS.md format
`{name, target, baseline, value, ratio, unit, machine, command, at}`.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from pydantic import BaseModel

RESULTS_DIR = Path(__file__).resolve().parent / "results"


class BenchResult(BaseModel):
    """One benchmark's outcome, as stored in bench/results/<name>.json."""

    name: str
    target: str
    baseline: float
    value: float
    ratio: float
    unit: str
    machine: str
    command: str
    at: str
    details: dict[str, Any] = {}

    @property
    def met(self) -> bool:
        """Whether the ratio meets the target (a string like '<= 1.0' or '>= 0.5')."""
        op, bound = self.target.split()[:2]
        return self.ratio <= float(bound) if op == "<=" else self.ratio >= float(bound)


def machine() -> str:
    """A short description of this machine: cores, memory, CPU model, Python."""
    mem_gib = psutil.virtual_memory().total / 2**30
    cpu = platform.processor() or platform.machine()
    return f"{os.cpu_count()} cores, {mem_gib:.0f} GiB, {cpu}, Python {platform.python_version()}"


def record(
    name: str, target: str, baseline: float, value: float, unit: str, details: dict[str, Any] | None = None
) -> BenchResult:
    """Write the result JSON for one benchmark and print a one-line summary."""
    ratio = value / baseline if baseline else float("inf")
    result = BenchResult(
        name=name,
        target=target,
        baseline=round(baseline, 6),
        value=round(value, 6),
        ratio=round(ratio, 4),
        unit=unit,
        machine=machine(),
        command=" ".join(shlex.quote(a) for a in ["python", "-m", *_module_argv()]),
        at=datetime.now(UTC).isoformat(timespec="seconds"),
        # The machine is shared: the load when the result was taken says how much to trust its absolute figures.
        details={**(details or {}), "load_avg_1_5_15": [round(x, 1) for x in os.getloadavg()]},
    )
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"{name}.json").write_text(result.model_dump_json(indent=2) + "\n")
    verdict = "met" if result.met else "NOT met"
    print(f"{name}: {value:.4g} / {baseline:.4g} {unit} = {ratio:.3f} (target {target}: {verdict})")
    return result


def _module_argv() -> list[str]:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name:
        return [spec.name, *sys.argv[1:]]
    return sys.argv


def percentile(samples: list[float], pct: float) -> float:
    """The pct-th percentile (0-100) of samples, by nearest rank."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


async def timed(fn: Callable[[], Awaitable[object]]) -> float:
    """Seconds one call of fn takes."""
    start = time.perf_counter()
    await fn()
    return time.perf_counter() - start


async def interleaved(
    sides: Sequence[Callable[[], Awaitable[object]]], rounds: int, warmup: int = 2
) -> list[list[float]]:
    """Time every side once per round, in turn, so machine noise falls on all alike; seconds per side."""
    for _ in range(warmup):
        for side in sides:
            await side()
    samples: list[list[float]] = [[] for _ in sides]
    for _ in range(rounds):
        for i, side in enumerate(sides):
            samples[i].append(await timed(side))
    return samples


def median(samples: list[float]) -> float:
    """Median of samples."""
    return statistics.median(samples)


def cpu_seconds(procs: dict[str, psutil.Process]) -> dict[str, float]:
    """CPU seconds (user + system) so far of each process and its children (not the caller's: they are the rest)."""
    out: dict[str, float] = {}
    for name, proc in procs.items():
        total = 0.0
        family = [proc] if proc.pid == os.getpid() else [proc, *proc.children(recursive=True)]
        for p in family:
            try:
                times = p.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                continue
        out[name] = total
    return out


def load_results() -> list[BenchResult]:
    """Every stored result, for summaries."""
    return [BenchResult.model_validate(json.loads(p.read_text())) for p in sorted(RESULTS_DIR.glob("*.json"))]
