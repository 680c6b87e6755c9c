"""CLI start-up: `genai-flow --help` against `python -c pass`, `genai-flow status JOB` against importing temporalio.

Targets (issue 7): `--help` at most 0.3 s above a bare interpreter; `status JOB` at most 0.4 s above
`python -c 'import temporalio.client'` (the client import no CLI that talks to Temporal can avoid). Both are
allowances in seconds; the stored ratio is subject / baseline, and the target is that allowance turned into a ratio
at this run's baseline (`<= (baseline + allowance) / baseline`), so `met` means exactly "within the allowance".
All four commands run as fresh processes, rotated round by round, so machine noise falls on every side alike.
`status` reads a completed AnswerQuestion job on a private dev server (bench/stack.py), run once beforehand.
Run: `python -m bench.bench_cli` (~1 min). Writes cli_help.json and cli_status.json.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from bench.harness import interleaved, median, percentile, record
from bench.stack import QUESTIONS, BenchStack, bench_stack, in_process_workers

ROUNDS = 20
WARMUP = 2
HELP_ALLOWANCE_S = 0.3
STATUS_ALLOWANCE_S = 0.4


def cli_argv() -> list[str]:
    """The installed console script as users run it (falls back to `python -m starter.cli`)."""
    script = Path(sys.executable).with_name("genai-flow")
    return [str(script)] if script.exists() else [sys.executable, "-m", "starter.cli"]


def side(argv: Sequence[str], env: dict[str, str]) -> Callable[[], Awaitable[None]]:
    """One timed run: start the process, wait for it, insist it exited 0."""

    async def run() -> None:
        proc = await asyncio.create_subprocess_exec(
            *argv, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        _, err = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {err.decode()[-500:]}")

    return run


async def completed_job(stack: BenchStack) -> str:
    """Run one AnswerQuestion to completion; its id."""
    from schemas.answer import AnswerRequest
    from schemas.jobs import JobStatus, Pipeline
    from starter.client import GenAIFlowClient

    async with in_process_workers(stack.client, stack.settings):
        jobs = GenAIFlowClient(stack.client, stack.settings)
        started = await jobs.start(Pipeline.ANSWER, AnswerRequest(question=QUESTIONS[0], collection=stack.collection))
        info = await jobs.wait(started.job_id)
    if info.status is not JobStatus.COMPLETED:
        raise RuntimeError(f"the job to read ended {info.status}")
    return started.job_id


def summary(samples: list[float]) -> dict[str, float]:
    """p50, p95, min and max in seconds."""
    return {
        "p50": round(median(samples), 4),
        "p95": round(percentile(samples, 95), 4),
        "min": round(min(samples), 4),
        "max": round(max(samples), 4),
    }


def store(name: str, allowance: float, baseline: list[float], subject: list[float], what: dict[str, str]) -> None:
    """Record one pair of sides as a ratio whose target encodes the allowance in seconds."""
    base, value = median(baseline), median(subject)
    bound = (base + allowance) / base
    record(name, f"<= {bound:.3f}", base, value, "s", {
        **what,
        "allowance_s": allowance,
        "overhead_s": round(value - base, 4),
        "target_meaning": f"subject p50 at most {allowance} s above the baseline p50, in the same run",
        "rounds": ROUNDS,
        "baseline_s": summary(baseline),
        "subject_s": summary(subject),
    })  # fmt: skip


async def main() -> None:
    """Start a private stack, make one completed job, time the four commands side by side, store two results."""
    async with bench_stack("cli") as stack:
        job = await completed_job(stack)
        env = {**os.environ, **stack.child_env()}
        py, cli = sys.executable, cli_argv()
        sides = [
            side([py, "-c", "pass"], env),
            side([*cli, "--help"], env),
            side([py, "-c", "import temporalio.client"], env),
            side([*cli, "status", job], env),
        ]
        bare, help_, temporal, status = await interleaved(sides, ROUNDS, WARMUP)
    store("cli_help", HELP_ALLOWANCE_S, bare, help_, {"baseline": "python -c pass", "subject": "genai-flow --help"})
    store("cli_status", STATUS_ALLOWANCE_S, temporal, status, {
        "baseline": "python -c 'import temporalio.client'",
        "subject": "genai-flow status JOB (a completed AnswerQuestion on a loopback dev server)",
    })  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
