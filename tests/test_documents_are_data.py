"""Documents are data: simulator markers a document quotes never fire, on ingestion, in answers or in agents."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from temporalio.client import Client

from schemas.agent import AgentRequest
from schemas.answer import AnswerRequest
from schemas.ingest import IngestJob
from schemas.jobs import JobStatus, Pipeline
from starter.client import GenAIFlowClient
from tests.helpers import private_settings, retrieved_chunks, running_workers, sim_ledger

# What docs/simulator.md itself says: before, ingesting it dead-lettered ("poisoned request") or hung for 120 s.
QUOTING = (
    "# Fault markers\n\nThe Quillon gateway fails on purpose when a request carries [[sim:poison]]. "
    "A request carrying [[sim:hangx1]] never gets an answer from the Quillon gateway."
)


@pytest_asyncio.fixture
async def flow(servers: dict[str, str], client: Client, unique: str) -> AsyncIterator[GenAIFlowClient]:
    # A short call timeout: were a quoted hang marker obeyed, the test would fail in seconds, not in minutes.
    settings = private_settings(unique).model_copy(update={"inference_timeout_s": 8.0})
    async with running_workers(client, settings) as gf:
        yield gf


async def test_a_document_quoting_markers_is_indexed_and_answerable(
    flow: GenAIFlowClient, tmp_path: Path, unique: str, servers: dict[str, str]
) -> None:
    doc = tmp_path / "markers.md"
    doc.write_text(QUOTING)
    collection = f"data-{unique}"
    job = await flow.ingest_uri(doc.as_uri(), collection)
    assert isinstance(job, IngestJob)
    indexed = await asyncio.wait_for(flow.wait(job.job_id), 90)
    assert indexed.status is JobStatus.COMPLETED, indexed.error
    assert indexed.result and indexed.result["outcome"] == "indexed" and indexed.result["chunks"] >= 1
    ledger = await sim_ledger(servers["sim_url"], prefix=f"{job.job_id}/")
    assert [c.status for e in ledger.entries.values() for c in e.calls] == [200]  # one embedding call, no fault

    started = await flow.start(
        Pipeline.ANSWER, AnswerRequest(question="When does the Quillon gateway fail?", collection=collection)
    )
    answered = await asyncio.wait_for(flow.wait(started.job_id), 90)
    assert answered.status is JobStatus.COMPLETED, answered.error
    assert "[[sim:poison]]" in (await retrieved_chunks(flow, started.job_id))[0].text  # the answer read that chunk
    assert answered.result and "Quillon gateway fails on purpose" in answered.result["answer"]

    # An agent reads the chunk as a search_documents result, then answers from it.
    task = "Use search_documents to find when the Quillon gateway fails, then answer."
    agent = await flow.start_agent(AgentRequest(task=task, collection=collection, max_depth=4))
    done = await asyncio.wait_for(flow.wait(agent.job_id), 90)
    assert done.status is JobStatus.COMPLETED, done.error
    assert done.result and done.result["outcome"] == "answered"
    calls = await sim_ledger(servers["sim_url"], prefix=f"{agent.job_id}/")
    assert all(c.status == 200 for e in calls.entries.values() for c in e.calls), calls
