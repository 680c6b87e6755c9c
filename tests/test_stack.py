"""`genai-flow up` end to end: readiness, the Temporal CLI against it, persistence across restarts, no orphans."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import psutil
import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.worker import Worker

from runtime.processes import free_port, port_open
from runtime.services import SEARCH_ATTRIBUTES
from workers.registry import workflow_runner

ROOT = Path(__file__).parents[1]  # no resolve(): the workflow sandbox re-imports this module and forbids it
BIN = Path(sys.executable).parent
READY = "genai-flow stack ready"


@workflow.defn(name="StackPersistenceProbe")
class StackPersistenceProbe:
    """Returns its input: completes only when a worker polls its queue, after the stack was restarted."""

    @workflow.run
    async def run(self, text: str) -> str:
        """Echo after a durable timer, so the run also crosses a timer."""
        await workflow.sleep(timedelta(milliseconds=100))
        return f"persisted: {text}"


def _stack_env(home: Path) -> dict[str, str]:
    ports = {name: free_port() for name in ("temporal", "ui", "redis", "chroma", "sim", "gateway", "metrics")}
    env = {
        **os.environ,
        "GENAI_FLOW_HOME": str(home),
        "TEMPORAL_ADDRESS": f"127.0.0.1:{ports['temporal']}",
        "GENAI_FLOW_TEMPORAL_UI_PORT": str(ports["ui"]),
        "REDIS_URL": f"redis://127.0.0.1:{ports['redis']}/0",
        "GENAI_FLOW_CHROMA_URL": f"http://127.0.0.1:{ports['chroma']}",
        "GENAI_FLOW_SIM_PORT": str(ports["sim"]),
        "GENAI_FLOW_GATEWAY_PORT": str(ports["gateway"]),
        "GENAI_FLOW_METRICS_PORT": str(ports["metrics"]),
        "GENAI_FLOW_LLM": "sim",
        "COLUMNS": "200",
    }
    return env


class Up:
    """A `genai-flow up` process whose output goes to a file (a pipe could fill and block it)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(BIN / "genai-flow"), "up"], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
            )

    def output(self) -> str:
        """Everything the process printed so far."""
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 240) -> None:
        """Poll the output for the ready line (printed only after every health check passed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if READY in self.output():
                return
            if self.proc.poll() is not None:
                pytest.fail(f"`up` exited with {self.proc.returncode}:\n{self.output()}")
            time.sleep(0.25)
        pytest.fail(f"`up` not ready after {timeout}s:\n{self.output()}")

    def children(self) -> list[psutil.Process]:
        """Every descendant process of `up`."""
        return psutil.Process(self.proc.pid).children(recursive=True)

    def interrupt(self, sig: signal.Signals = signal.SIGINT, timeout: float = 90) -> int:
        """Ctrl-C as a terminal sends it (or SIGTERM as a service manager does), and wait for the exit code."""
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)


@pytest.fixture
def up_runs() -> Iterator[list[Up]]:
    """Collects `up` processes and kills any left running by a failed test (never leaves a stack behind)."""
    runs: list[Up] = []
    yield runs
    for run in runs:
        if run.proc.poll() is None:
            for child in run.children():
                child.kill()
            run.proc.kill()
            run.proc.wait()


def _gone(processes: list[psutil.Process]) -> list[str]:
    alive = []
    for proc in processes:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{proc.pid} {proc.name()}")
        except psutil.NoSuchProcess:
            continue
    return alive


def _worker_of(run: Up) -> psutil.Process | None:
    for child in run.children():
        try:
            if "starter.cli worker" in " ".join(child.cmdline()):
                return child
        except psutil.NoSuchProcess:
            continue
    return None


def _crash_worker_and_wait_for_restart(run: Up, metrics_port: int) -> list[psutil.Process]:
    """Kill the worker as a crash would; `up` must start a new one (a crash is isolated) and keep running."""
    crashed = _worker_of(run)
    assert crashed is not None
    crashed.kill()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        current = _worker_of(run)
        if current is not None and current.pid != crashed.pid and port_open("127.0.0.1", metrics_port):
            break
        assert run.proc.poll() is None, run.output()
        time.sleep(0.2)
    else:
        pytest.fail(f"worker not restarted:\n{run.output()}")
    assert "restarting worker" in run.output()
    return run.children()


def _temporal_cli(address: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "temporal"), *args, "--address", address],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_up_serves_cli_persists_workflows_and_leaves_no_orphans(tmp_path: Path, up_runs: list[Up]) -> None:
    env = _stack_env(tmp_path / "home")
    address = env["TEMPORAL_ADDRESS"]
    first = Up(env, tmp_path / "up1.log")
    up_runs.append(first)
    first.wait_ready()
    out = first.output()
    assert f"GENAI_FLOW_LLM={env['GENAI_FLOW_LLM']}" in out  # the model backend is explicit
    assert f"http://127.0.0.1:{env['GENAI_FLOW_TEMPORAL_UI_PORT']}/namespaces/default/workflows" in out
    children = first.children()
    names = " ".join(" ".join(child.cmdline()) for child in children)
    for expected in ("temporal", "redis-server", "chroma", "starter.cli sim", "starter.cli gateway"):
        assert expected in names, names
    gateway = f"http://127.0.0.1:{env['GENAI_FLOW_GATEWAY_PORT']}"
    assert gateway in out  # listed with its address
    assert f"web console: {gateway}/ui/jobs" in out
    health = httpx.get(f"{gateway}/healthz", timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "ok", health.text
    assert "starter.cli worker" in names, names
    assert port_open("127.0.0.1", int(env["GENAI_FLOW_METRICS_PORT"]))
    children = _crash_worker_and_wait_for_restart(first, int(env["GENAI_FLOW_METRICS_PORT"]))

    listed = _temporal_cli(address, "operator", "search-attribute", "list")
    assert listed.returncode == 0, listed.stderr
    for attribute in SEARCH_ATTRIBUTES:
        assert attribute in listed.stdout
    assert _temporal_cli(address, "workflow", "list").returncode == 0

    queue = f"stack-probe-{uuid.uuid4().hex[:8]}"
    client = await Client.connect(address)
    handle = await client.start_workflow(StackPersistenceProbe.run, "hello", id=f"probe-{queue}", task_queue=queue)

    assert first.interrupt() == 0, first.output()
    assert "Traceback" not in first.output()
    assert _gone(children) == [], "children left after Ctrl-C"
    assert not port_open("127.0.0.1", int(address.rsplit(":", 1)[1]))
    assert not port_open("127.0.0.1", int(env["GENAI_FLOW_GATEWAY_PORT"]))

    second = Up(env, tmp_path / "up2.log")
    up_runs.append(second)
    second.wait_ready()
    children = second.children()
    client = await Client.connect(address)
    async with Worker(client, task_queue=queue, workflows=[StackPersistenceProbe], workflow_runner=workflow_runner()):
        result = await client.get_workflow_handle(handle.id).result(rpc_timeout=timedelta(seconds=30))
    assert result == "persisted: hello"
    listed_runs = _temporal_cli(address, "workflow", "list", "--query", f"WorkflowId='{handle.id}'")
    assert handle.id in listed_runs.stdout

    assert second.interrupt(signal.SIGTERM) == 0, second.output()
    assert _gone(children) == []


def test_taken_port_is_named_with_its_setting(tmp_path: Path, up_runs: list[Up]) -> None:
    env = _stack_env(tmp_path / "home")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        env["GENAI_FLOW_TEMPORAL_UI_PORT"] = str(port)
        run = Up(env, tmp_path / "up.log")
        up_runs.append(run)
        code = run.proc.wait(timeout=60)
    out = run.output()
    assert code != 0
    assert f"port {port}" in out and "GENAI_FLOW_TEMPORAL_UI_PORT" in out
    assert "Traceback" not in out
    # Nothing was started: the check runs before any process.
    assert not port_open("127.0.0.1", int(env["TEMPORAL_ADDRESS"].rsplit(":", 1)[1]))


def test_missing_binary_names_the_install_command(tmp_path: Path) -> None:
    env = _stack_env(tmp_path / "home")
    env["PATH"] = str(tmp_path / "empty-bin")  # no redis-server anywhere on PATH
    done = subprocess.run(
        [str(BIN / "genai-flow"), "up"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    out = done.stdout + done.stderr
    assert done.returncode != 0
    assert "redis-server" in out and "apt-get install -y redis-server" in out
    assert "Traceback" not in out


def test_demo_runs_and_stops_the_stack(tmp_path: Path) -> None:
    env = _stack_env(tmp_path / "home")
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        demo = subprocess.Popen(
            [str(BIN / "genai-flow"), "demo"], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
        )
        code = demo.wait(timeout=600)
    output = log.read_text(errors="replace")
    assert code == 0, output
    assert READY in output and "demo finished with exit code 0" in output
    assert "paused at its depth limit" in output and "approved: depth 1/2" in output  # the agent part
    assert f"http://127.0.0.1:{env['GENAI_FLOW_TEMPORAL_UI_PORT']}/namespaces/default/workflows" in output
    assert f"http://127.0.0.1:{env['GENAI_FLOW_GATEWAY_PORT']}/ui/jobs" in output  # the web console
    assert "Traceback" not in output
    for name in ("TEMPORAL_ADDRESS", "GENAI_FLOW_CHROMA_URL"):
        port = int(env[name].rsplit(":", 1)[1])
        assert not port_open("127.0.0.1", port), f"{name} still answers after the demo"
