"""`up` heals itself: each of its processes killed in turn (-9) is restarted, and the job in flight completes."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
import psutil
import pytest

from launcher.supervisor import CRASH_LOOP_RESTARTS, RestartState
from tests.test_stack import BIN, Up, _stack_env, up_runs  # noqa: F401  (up_runs is a fixture)

# Each component, by what its command line contains.
COMPONENTS = {
    "redis": "redis-server",
    "model (simulator)": "starter.cli sim",
    "chroma": "chroma run",
    "worker": "starter.cli worker",
    "gateway": "starter.cli gateway",
    "temporal": "server start-dev",
}


def _process(run: Up, marker: str) -> psutil.Process | None:
    for child in run.children():
        try:
            if marker in " ".join(child.cmdline()):
                return child
        except psutil.NoSuchProcess:
            continue
    return None


def _job(http: httpx.Client, job_id: str, timeout: float = 180) -> dict[str, object]:
    """The job once it closed, polling through whatever the stack is going through."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            info = http.get(f"/v1/jobs/{job_id}")
            if info.status_code == 200 and info.json()["status"] in ("completed", "failed", "dead_lettered"):
                return dict(info.json())
        except httpx.HTTPError:
            pass  # the gateway (or Temporal behind it) is being restarted
        time.sleep(0.5)
    pytest.fail(f"{job_id} did not close within {timeout} s")


def _post(http: httpx.Client, question: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            started = http.post("/v1/answers", json={"question": question})
            if started.status_code == 202:
                return str(started.json()["job_id"])
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the gateway did not accept a job"
        time.sleep(0.5)


def test_killing_each_process_of_up_restarts_it_and_the_job_in_flight_completes(
    tmp_path: Path,
    up_runs: list[Up],  # noqa: F811
) -> None:
    env = _stack_env(tmp_path / "home")
    run = Up(env, tmp_path / "up.log")
    up_runs.append(run)
    run.wait_ready()
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "crash.md").write_text("# Crashes\n\nA job in flight survives the crash of any process of the stack.\n")
    ingested = subprocess.run(
        [str(BIN / "genai-flow"), "ingest", str(notes), "--wait"], env=env, capture_output=True, text=True, timeout=180
    )
    assert ingested.returncode == 0, ingested.stdout + ingested.stderr
    gateway = f"http://127.0.0.1:{env['GENAI_FLOW_GATEWAY_PORT']}"
    with httpx.Client(base_url=gateway, timeout=30) as http:
        for name, marker in COMPONENTS.items():
            victim = _process(run, marker)
            assert victim is not None, f"no {name} process under `up`"
            # A question that takes a couple of seconds to answer, so the kill lands while it is in flight.
            job = _post(http, f"What survives a {name} crash? [[sim:latency=2s]]")
            victim.kill()
            deadline = time.monotonic() + 120
            while f"{name} restarted" not in run.output():
                assert run.proc.poll() is None, run.output()
                assert time.monotonic() < deadline, f"{name} not restarted:\n{run.output()}"
                time.sleep(0.2)
            replaced = _process(run, marker)
            assert replaced is not None and replaced.pid != victim.pid
            info = _job(http, job)
            assert info["status"] == "completed", (name, info.get("error"), run.output()[-3000:])
    assert run.proc.poll() is None  # still up after all of it
    assert run.interrupt() == 0, run.output()


def test_backoff_doubles_and_a_crash_loop_gives_up() -> None:
    state = RestartState("x", started_at=0.0)
    due = [state.died(now) for now in (1.0,)]
    assert due == [1.5]
    state.restarted(1.5)
    assert state.died(2.0) == 3.0  # 1 s: doubled
    for now in (3.0, 4.0, 5.0, 6.0):
        state.restarted(now)
        state.died(now + 0.1)
    assert len(state.restarts) == CRASH_LOOP_RESTARTS
    assert state.died(7.0) is None  # six deaths within a minute: a crash loop
    stable = RestartState("y", started_at=0.0, backoff_s=8.0)
    assert stable.died(100.0) == 100.5  # it ran for longer than STABLE_S: back to the first backoff
