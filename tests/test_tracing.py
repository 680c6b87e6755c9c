"""One trace links the gateway's HTTP request that starts a job, its workflow and each inference activity
(in-memory exporter; the gateway app and a worker in the test process)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest_asyncio
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client

from gateway.app import create_app
from runtime.settings import Settings
from runtime.telemetry import setup_tracing, shutdown_tracing
from runtime.temporal import connect
from schemas.jobs import JobStatus
from tests.helpers import index_facts, private_settings, running_workers


@pytest_asyncio.fixture
async def traced(servers: dict[str, str], unique: str) -> AsyncIterator[tuple[InMemorySpanExporter, Client, Settings]]:
    """Tracing on with an in-memory exporter, and a Temporal client that carries the TracingInterceptor."""
    settings = private_settings(unique).model_copy(update={"api_keys": [f"key-{unique}"], "rate_limit": None})
    exporter = InMemorySpanExporter()
    # Not the process-global provider: other tests in this process stay untraced.
    assert setup_tracing(settings, "genai-flow-test", exporter=exporter, set_global=False) is not None
    try:
        yield exporter, await connect(settings), settings
    finally:
        shutdown_tracing()


def ancestors(span: ReadableSpan, by_id: dict[int, ReadableSpan]) -> list[str]:
    """Names of a span's ancestors, nearest first."""
    names = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        names.append(span.name)
    return names


async def test_one_trace_from_http_request_to_every_inference_activity(
    traced: tuple[InMemorySpanExporter, Client, Settings], tmp_path: Path, unique: str
) -> None:
    exporter, client, settings = traced
    collection = f"trace-{unique}"
    await index_facts(tmp_path, collection, settings)
    trace_id = secrets.randbits(128)
    traceparent = f"00-{trace_id:032x}-{secrets.randbits(64):016x}-01"

    app = create_app(settings)
    async with running_workers(client, settings) as flow, app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
            response = await http.post(
                "/v1/answers",
                json={"question": "Who commissioned the Zephyr reactor?", "collection": collection},
                # The caller's own trace: everything joins it.
                headers={"traceparent": traceparent, "Authorization": f"Bearer key-{unique}"},
            )
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        assert (await asyncio.wait_for(flow.wait(job_id), 90)).status is JobStatus.COMPLETED

    spans = exporter.get_finished_spans()
    assert spans
    by_id = {s.context.span_id: s for s in spans}
    ours = [s for s in spans if s.context.trace_id == trace_id]
    names = [s.name for s in ours]
    server = next(s for s in ours if s.name == "POST /v1/answers" and s.kind.name == "SERVER")
    start = next(s for s in ours if s.name == "StartWorkflow:AnswerQuestion")
    assert server.name in ancestors(start, by_id)
    assert "RunWorkflow:AnswerQuestion" in names
    for activity in ("retrieve", "structured", "chat"):
        runs = [s for s in ours if s.name == f"RunActivity:{activity}"]
        assert runs, f"no RunActivity:{activity} in the trace: {sorted(set(names))}"
        for run in runs:
            chain = ancestors(run, by_id)
            assert f"StartActivity:{activity}" in chain and "StartWorkflow:AnswerQuestion" in chain, chain
            assert run.attributes and run.attributes.get("temporalWorkflowID") == job_id
    assert len([n for n in names if n == "RunActivity:structured"]) == 2  # summarize and extract_entities
    # Nothing of this job ended up in another trace.
    strays = [s.name for s in spans if s.context.trace_id != trace_id and "AnswerQuestion" in s.name]
    assert not strays, strays
