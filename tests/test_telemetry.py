"""Tracing is off by default; with OTEL_TRACES_EXPORTER=otlp, Temporal spans reach the OTLP/HTTP collector named by
the standard OTEL_EXPORTER_OTLP_ENDPOINT."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from runtime.settings import Settings
from runtime.telemetry import TracingConfigError, setup_tracing, temporal_interceptors

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import asyncio, sys
from temporalio.worker import Worker
from runtime.settings import get_settings
from runtime.telemetry import shutdown_tracing
from runtime.temporal import connect
from tests.worker_app import DrainProbe, drain_probe_step
from workers.registry import workflow_runner

async def main(queue):
    client = await connect(get_settings())
    async with Worker(client, task_queue=queue, workflows=[DrainProbe], activities=[drain_probe_step],
                      workflow_runner=workflow_runner()):
        print(await client.execute_workflow(DrainProbe.run, 0.01, id=f"trace-{queue}", task_queue=queue))
    shutdown_tracing()

asyncio.run(main(sys.argv[1]))
"""


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    """A minimal OTLP/HTTP receiver on loopback that records what is posted to it."""
    received: list[tuple[str, bytes]] = []
    handler = type("Handler", (_Collector,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def test_tracing_is_off_unless_configured() -> None:
    # An endpoint alone does not turn tracing on: OTEL_TRACES_EXPORTER does (CONTRACTS.md: default none).
    assert temporal_interceptors(Settings(otel_endpoint="http://c:4318")) == []
    assert temporal_interceptors(Settings(otel_traces_exporter="none")) == []


def test_unknown_otlp_protocol_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    with pytest.raises(TracingConfigError, match="http/protobuf or grpc"):
        setup_tracing(Settings(otel_traces_exporter="otlp"))


def test_workflow_spans_are_exported(
    servers: dict[str, str], unique: str, collector: tuple[str, list[tuple[str, bytes]]]
) -> None:
    endpoint, received = collector
    env = {**os.environ, **{k: v for k, v in servers.items() if k.isupper()}, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}
    env["OTEL_TRACES_EXPORTER"] = "otlp"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, f"trace-{unique}"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "slept 0.01" in done.stdout
    paths = {path for path, _ in received}
    assert paths == {"/v1/traces"}
    spans = b"".join(body for _, body in received)
    for name in (b"StartWorkflow:DrainProbe", b"RunWorkflow:DrainProbe", b"RunActivity:drain_probe_step"):
        assert name in spans, name
