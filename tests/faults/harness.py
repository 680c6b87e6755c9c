"""The fault suite's rig: a `genai-flow up` stack plus extra worker processes, a load of answers, and the referee.

A scenario starts jobs through the gateway, injects its fault into a process of the stack, waits for every job to
close, and reports one `FaultRow`: jobs, completed, lost (neither completed nor dead-lettered), calls billed twice
(an Idempotency-Key the simulator's ledger billed more than once), dead-lettered, and recovery time (from the kill to
the next call of each step the kill interrupted, p50).
"""

from __future__ import annotations

import itertools
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
from pydantic import BaseModel

from schemas.sim import SimLedger, SimLedgerCall, SimLedgerEntry
from tests.test_stack import BIN, ROOT, Up, _stack_env

CLOSED = ("completed", "failed", "dead_lettered")
# A fault-point worker runs one activity at a time: with more, its exit at `after_store` lands exactly when a sibling
# step started with it (same latency, same length) has been answered but not stored, which pays that step again.
FAULTY_SLOTS = 1


class FaultRow(BaseModel):
    """One row of the table in docs/reliability.md."""

    scenario: str
    jobs: int
    completed: int
    lost: int
    billed_twice: int
    dead_lettered: int
    recovery_s: float | None = None  # p50 from the kill to the interrupted steps' next calls
    command: str
    # Jobs that broke the scenario's own check: F4 a retry sooner than Retry-After, F7 followed events missed or
    # repeated, F8 an agent past its depth or more than one call past its budget.
    check_faults: int = 0


class FaultStack:
    """A running `up` stack (its worker included) and `extra_workers` more worker processes on the same queues."""

    def __init__(self, home: Path, extra_workers: int = 1) -> None:
        # A hung model call ends at the client's timeout (F4): 30 s rather than 120 s keeps the scenario short. The
        # simulator streams at a provider's pace (50 tokens/s), so a worker dying mid-stream leaves the stream
        # undelivered, as with a real provider, rather than already sent whole.
        self.env = {
            **_stack_env(home),
            "GENAI_FLOW_INFERENCE_TIMEOUT_S": "30",
            "GENAI_FLOW_SIM_FLAGS": "--tps 50",
            # The suite is one client following every job: its key's limit stays on (Redis faults reach it), high.
            "GENAI_FLOW_RATE_LIMIT": "100000/10s",
        }
        self.home = home
        self.up = Up(self.env, home.parent / f"{home.name}-up.log")
        self.extra: list[subprocess.Popen[bytes]] = []
        self.extra_count = extra_workers
        self.gateway = f"http://127.0.0.1:{self.env['GENAI_FLOW_GATEWAY_PORT']}"
        self.sim = f"http://127.0.0.1:{self.env['GENAI_FLOW_SIM_PORT']}"

    def start(self) -> None:
        """Start `up`, ingest one note (answers need a collection), then the extra workers."""
        self.up.wait_ready()
        notes = self.home.parent / f"{self.home.name}-notes"
        notes.mkdir(exist_ok=True)
        (notes / "faults.md").write_text("# Faults\n\nA job in flight survives the crash of any part of the stack.\n")
        ingest = [str(BIN / "genai-flow"), "ingest", str(notes), "--wait"]
        done = subprocess.run(ingest, env=self.env, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        for n in range(self.extra_count):
            self.start_worker(n)

    def start_worker(
        self,
        n: int,
        timeout_s: float = 180,
        fault_point: str = "",
        prefix: str = "",
        queues: str = "",
        standby: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """One more worker process (its own metrics port), logging beside the stack's logs; returns once it serves.

        `fault_point` (`<step>:<point>`) makes it exit there (activities/faults.py), as a kill -9 at that point would;
        such a worker runs FAULTY_SLOTS activities at once, so the exit cuts no call besides that step's. `prefix`
        puts it on a task-queue prefix of its own (GENAI_FLOW_TASK_QUEUE_PREFIX), `queues` limits what it polls.
        `standby`: it imports what it needs and serves only once that file exists (tests/faults/standby.py); this
        returns at once.
        """
        from runtime.processes import free_port, port_open

        port = free_port()
        env = {**self.env, "GENAI_FLOW_METRICS_PORT": str(port), "GENAI_FLOW_FAULT_POINT": fault_point}
        if fault_point:
            env["GENAI_FLOW_MAX_CONCURRENT_ACTIVITIES"] = str(FAULTY_SLOTS)
        if prefix:
            env["GENAI_FLOW_TASK_QUEUE_PREFIX"] = prefix
        with (self.home / "logs" / f"extra-worker-{n}.log").open("ab") as log:
            entry = ["tests.faults.standby", str(standby)] if standby else ["starter.cli"]
            argv = [sys.executable, "-m", *entry, "worker", *(["--queues", queues] if queues else [])]
            proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        self.extra.append(proc)
        if standby:
            return proc
        deadline = time.monotonic() + timeout_s
        while not port_open("127.0.0.1", port):  # the metrics port opens once its pollers run
            assert proc.poll() is None and time.monotonic() < deadline, f"extra worker {n} did not start"
            time.sleep(0.2)
        return proc

    def stop(self) -> None:
        """Stop the extra workers and `up` (Ctrl-C), killing whatever a failure left behind."""
        for proc in self.extra:
            proc.terminate()
        for proc in self.extra:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.up.proc.poll() is None:
            try:
                self.up.interrupt(timeout=90)
            except subprocess.TimeoutExpired:
                for child in self.up.children():
                    child.kill()
                self.up.proc.kill()

    def process(self, marker: str) -> psutil.Process:
        """The stack's process whose command line contains marker."""
        for child in self.up.children():
            try:
                if marker in " ".join(child.cmdline()):
                    return child
            except psutil.NoSuchProcess:
                continue
        raise AssertionError(f"no process matching {marker!r} under `up`")

    def workers(self) -> list[int]:
        """Pids of every live worker process: the stack's and the extra ones."""
        pids = [p.pid for p in self.extra if p.poll() is None]
        return [self.process("starter.cli worker").pid, *pids]

    @contextmanager
    def hung(self, marker: str) -> Iterator[None]:
        """The process SIGSTOPped (hung, its sockets open) inside the block."""
        pid = self.process(marker).pid
        os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(pid, signal.SIGCONT)

    # -- load and the referee ----------------------------------------------------------------------------------------

    def submit(
        self, http: httpx.Client, count: int, tag: str, latency_s: float = 2.0, poison: int = 0, markers: str = ""
    ) -> list[str]:
        """Start `count` answers whose model calls take latency_s each (the first `poison` always fail); job ids."""
        jobs = []
        for n in range(count):
            marker = " [[sim:poison]]" if n < poison else ""
            body = {"question": f"What survives a crash? {tag}-{n} [[sim:latency={latency_s}s]]{marker} {markers}"}
            started = http.post("/v1/answers", json=body)
            assert started.status_code == 202, started.text
            jobs.append(str(started.json()["job_id"]))
        return jobs

    def wait(self, http: httpx.Client, jobs: list[str], timeout_s: float) -> dict[str, str]:
        """Each job's status once closed (or its last status when timeout_s ran out)."""
        deadline = time.monotonic() + timeout_s
        status = self.statuses(http, jobs)
        while time.monotonic() < deadline and len([s for s in status.values() if s in CLOSED]) < len(jobs):
            time.sleep(0.5)
            status = self.statuses(http, jobs, status)
        return status

    def statuses(self, http: httpx.Client, jobs: list[str], known: dict[str, str] | None = None) -> dict[str, str]:
        """One look at each job not known to be closed: its status, when the gateway answers."""
        status = dict(known or {})
        for job in jobs:
            if status.get(job) in CLOSED:
                continue
            try:
                info = http.get(f"/v1/jobs/{job}")
            except httpx.HTTPError:
                continue  # the gateway or Temporal is being restarted
            if info.status_code == 200:
                status[job] = info.json()["status"]
        return status

    def ledger(self, prefix: str = "answer-") -> SimLedger:
        """The simulator's ledger of the jobs whose ids start with prefix."""
        response = httpx.get(f"{self.sim}/sim/ledger", params={"prefix": prefix}, timeout=30)
        response.raise_for_status()
        return SimLedger.model_validate(response.json())

    def entries(self, jobs: list[str]) -> dict[str, SimLedgerEntry]:
        """The ledger entries of these jobs and of their child jobs (`<job>-sub1`, `<job>-sub1-answer2` ...)."""
        prefix = jobs[0].split("-", 1)[0] + "-" if jobs else "-"  # a scenario's jobs are of one pipeline
        owners = set(jobs)

        def mine(key: str) -> bool:
            parts = key.split("/", 1)[0].split("-")
            return any("-".join(parts[:n]) in owners for n in range(2, len(parts) + 1))

        return {key: entry for key, entry in self.ledger(prefix).entries.items() if mine(key)}

    def row(
        self,
        scenario: str,
        jobs: list[str],
        status: dict[str, str],
        command: str,
        killed_at: float | None = None,
        kills: Sequence[tuple[str, float]] = (),
    ) -> FaultRow:
        """The scenario's figures from the jobs' statuses and the ledger (`kills`: victim and epoch time of each)."""
        mine = self.entries(jobs)
        doubled = {key: entry for key, entry in mine.items() if sum(1 for c in entry.calls if billed(c)) > 1}
        twice = len(doubled)
        for key, entry in doubled.items():  # the evidence: did the calls overlap (a takeover) or follow each other?
            t0 = min(c.arrival for c in entry.calls)
            calls = ", ".join(
                f"{c.status}@{c.arrival - t0:.2f}-{(c.finished or c.arrival) - t0:.2f}s" for c in entry.calls
            )
            # Which kill let it happen: those between the step's first call and its last one, on the same clock.
            t1 = max(c.arrival for c in entry.calls)
            near = ", ".join(f"{victim} killed @{at - t0:.2f}s" for victim, at in kills if t0 - 1 <= at <= t1)
            print(f"{scenario}: billed twice {key}: {calls}" + (f"; {near}" if near else ""), flush=True)
        completed = sum(1 for job in jobs if status.get(job) == "completed")
        dead = sum(1 for job in jobs if status.get(job) == "dead_lettered")
        return FaultRow(
            scenario=scenario,
            jobs=len(jobs),
            completed=completed,
            lost=len(jobs) - completed - dead,
            billed_twice=twice,
            dead_lettered=dead,
            recovery_s=recovery_p50(mine.values(), killed_at) if killed_at is not None else None,
            command=command,
        )


def recovery_p50(entries: Iterable[SimLedgerEntry], killed_at: float) -> float | None:
    """p50 over the calls the kill cut (in flight at killed_at) of the time to their step's next call."""
    gaps = []
    for entry in entries:
        calls = sorted(entry.calls, key=lambda c: c.arrival)
        for first, second in itertools.pairwise(calls):
            # Cut: in flight at the kill and never delivered (the worker's connection went with it).
            in_flight = first.arrival <= killed_at and (first.finished is None or first.finished >= killed_at - 0.5)
            if in_flight and not billed(first):
                gaps.append(second.arrival - killed_at)
                break
    return round(statistics.median(gaps), 1) if gaps else None


def billed(call: SimLedgerCall) -> bool:
    """Whether the simulator billed the call (a delivered 2xx response)."""
    return bool(call.billed_prompt_tokens or call.billed_completion_tokens)


def table(rows: list[FaultRow]) -> str:
    """The Markdown table of docs/reliability.md."""
    lines = [
        "| scenario | jobs | completed | lost | calls billed twice | dead-lettered | recovery time (p50) | command |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        recovery = f"{r.recovery_s:.1f} s" if r.recovery_s is not None else "—"
        lines.append(
            f"| {r.scenario} | {r.jobs} | {r.completed} | {r.lost} | {r.billed_twice} | {r.dead_lettered} | "
            f"{recovery} | `{r.command}` |"
        )
    return "\n".join(lines)
