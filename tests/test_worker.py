"""`genai-flow worker` as a process: Prometheus metrics, graceful drain on SIGTERM, clear errors."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, RegisterNamespaceRequest
from temporalio.client import Client

from runtime.logging import configure_logging
from runtime.processes import free_port
from runtime.settings import Settings
from workers import registry
from workers.registry import declared_queues

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
async def namespace(client: Client, unique: str) -> str:
    """A namespace of its own, so this worker's fixed queue names never meet other tests' workers."""
    name = f"worker-test-{unique}"
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=name, workflow_execution_retention_period=Duration(seconds=86400))
    )
    await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=name))
    return name


def _env(servers: dict[str, str], namespace: str, metrics_port: int) -> dict[str, str]:
    return {
        **os.environ,
        **{k: v for k, v in servers.items() if k.isupper()},
        "TEMPORAL_NAMESPACE": namespace,
        "GENAI_FLOW_METRICS_PORT": str(metrics_port),
        "GENAI_FLOW_WORKER_SHUTDOWN_GRACE_S": "20",
    }


class WorkerProc:
    """A worker process with its output in a file."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)

    def output(self) -> str:
        """What the worker printed."""
        return self.log.read_text(errors="replace")

    def metrics_when_polling(self, port: int, namespace: str, timeout: float = 90) -> str:
        """The metrics text once the worker's pollers for the namespace show up in it."""
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"worker exited with {self.proc.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
                    text = resp.read().decode()
            except OSError:
                text = ""
            if f'namespace="{namespace}"' in text and "temporal_num_pollers" in text:
                return text
            time.sleep(0.25)
        pytest.fail(f"no poller metrics after {timeout}s:\n{text[:2000]}\n{self.output()}")


@pytest.fixture
def procs() -> Iterator[list[WorkerProc]]:
    """Worker processes of a test; any still running at the end is killed."""
    started: list[WorkerProc] = []
    yield started
    for worker in started:
        if worker.proc.poll() is None:
            worker.proc.kill()
            worker.proc.wait()


async def test_worker_serves_metrics_and_drains_running_activity_on_sigterm(
    servers: dict[str, str], namespace: str, unique: str, tmp_path: Path, procs: list[WorkerProc]
) -> None:
    port = free_port()
    worker = WorkerProc(
        [sys.executable, "-m", "tests.worker_app", "worker"], _env(servers, namespace, port), tmp_path / "w.log"
    )
    procs.append(worker)
    metrics = worker.metrics_when_polling(port, namespace)
    assert "# TYPE temporal_num_pollers gauge" in metrics
    assert 'task_queue="genai-workflows"' in metrics

    client = await Client.connect(servers["TEMPORAL_ADDRESS"], namespace=namespace)
    handle = await client.start_workflow("DrainProbe", 2.0, id=f"drain-{unique}", task_queue="genai-workflows")
    deadline = time.monotonic() + 60
    started = False
    while not started and time.monotonic() < deadline:
        # A running activity shows as a started pending activity (its history events are written on completion).
        pending = (await handle.describe()).raw_description.pending_activities
        started = any(p.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED for p in pending)
        if not started:
            await asyncio.sleep(0.1)
    assert started, "the activity never started"

    sent = time.monotonic()
    worker.proc.send_signal(signal.SIGTERM)
    code = worker.proc.wait(timeout=60)
    assert code == 0, worker.output()
    assert time.monotonic() - sent < 30
    events = [e.event_type async for e in handle.fetch_history_events()]
    # Drained, not cancelled: the running activity finished and its result is in history.
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED in events
    assert "worker stopped" in worker.output()


def test_worker_with_the_project_registry(
    servers: dict[str, str], namespace: str, tmp_path: Path, procs: list[WorkerProc]
) -> None:
    port = free_port()
    worker = WorkerProc(
        [str(Path(sys.executable).parent / "genai-flow"), "worker"],
        _env(servers, namespace, port),
        tmp_path / "w.log",
    )
    procs.append(worker)
    if declared_queues():
        metrics = worker.metrics_when_polling(port, namespace)
        for queue in declared_queues():
            assert f'task_queue="{queue}"' in metrics
        worker.proc.send_signal(signal.SIGTERM)
        assert worker.proc.wait(timeout=60) == 0, worker.output()
    else:
        assert worker.proc.wait(timeout=60) == 1
        assert "nothing is registered" in worker.output()


def test_worker_rejects_unknown_queue(servers: dict[str, str], namespace: str) -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "genai-flow"), "worker", "--queues", "genai-workflows,nope"],
        env=_env(servers, namespace, free_port()),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "nope" in done.stderr and "genai-inference" in done.stderr


def test_worker_metrics_port_taken(servers: dict[str, str], namespace: str) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "tests.worker_app", "worker"],
            env=_env(servers, namespace, port),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 1
    assert "GENAI_FLOW_METRICS_PORT" in done.stderr and str(port) in done.stderr
    assert "Traceback" not in done.stderr


async def test_build_workers_skips_empty_queues_and_applies_settings(
    client: Client, isolated_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.worker_app import DrainProbe, drain_probe_step

    settings = isolated_settings.model_copy(
        update={"max_concurrent_activities": 7, "max_concurrent_workflow_tasks": 3, "worker_shutdown_grace_s": 4.0}
    )
    monkeypatch.setattr(registry, "workflows", lambda: [DrainProbe])
    monkeypatch.setattr(
        registry,
        "activity_factories",
        lambda: {q: [lambda deps: [drain_probe_step]] if q == registry.IO_QUEUE else [] for q in registry.ALL_QUEUES},
    )
    logs = io.StringIO()
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", root.handlers[:])  # restored after the test
    monkeypatch.setattr(root, "level", root.level)
    configure_logging(settings.model_copy(update={"log_format": "json", "log_level": "INFO"}), stream=logs)
    async with registry.open_deps(settings) as deps:
        workers = registry.build_workers(client, settings, registry.ALL_QUEUES, deps)
        by_queue = {w.task_queue: w.config() for w in workers}
        assert set(by_queue) == {registry.WORKFLOWS_QUEUE, registry.IO_QUEUE}
        assert by_queue[registry.IO_QUEUE]["max_concurrent_activities"] == 7
        assert by_queue[registry.WORKFLOWS_QUEUE]["max_concurrent_workflow_tasks"] == 3
        assert by_queue[registry.IO_QUEUE]["graceful_shutdown_timeout"] == timedelta(seconds=4)
        skipped = [json.loads(line) for line in logs.getvalue().splitlines() if "skipped" in line]
        assert skipped == [
            {**skipped[0], "event": "queue skipped: nothing registered", "task_queue": registry.INFERENCE_QUEUE}
        ]

        with pytest.raises(registry.NothingRegistered, match=r"workers/registry\.py"):
            registry.build_workers(client, settings, [registry.INFERENCE_QUEUE], deps)
        with pytest.raises(ValueError, match="unknown task queue"):
            registry.build_workers(client, settings, ["genai-nowhere"], deps)


def test_the_workflow_sandbox_is_on_unless_turned_off(isolated_settings: Settings) -> None:
    from temporalio.worker import UnsandboxedWorkflowRunner
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

    on = registry.worker_options(isolated_settings, registry.WORKFLOWS_QUEUE)["workflow_runner"]
    off_settings = isolated_settings.model_copy(update={"workflow_sandbox": False})
    off = registry.worker_options(off_settings, registry.WORKFLOWS_QUEUE)["workflow_runner"]
    assert isinstance(on, SandboxedWorkflowRunner) and isinstance(off, UnsandboxedWorkflowRunner)
    assert Settings(GENAI_FLOW_WORKFLOW_SANDBOX="false").workflow_sandbox is False  # type: ignore[call-arg]
