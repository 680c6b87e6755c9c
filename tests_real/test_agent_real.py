"""AgentRun on the real local model: it calls search_documents, pauses at --max-depth 1, completes after approve.

SmolLM2 is served with a chat template that carries tools (launcher/chat_template.py); tool_choice is left to the
model, so the call proves the model chose it. The figures are printed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client

from schemas.agent import AgentRequest, AgentResult, ApproveRequest, Outcome
from schemas.events import EventType
from schemas.jobs import JobStatus
from starter.client import GenAIFlowClient
from starter.corpus import ingest_folder
from tests.grounding_corpus import write_corpus
from tests.helpers import private_settings, progress_events, running_workers

JOB_TIMEOUT_S = 600.0


@pytest_asyncio.fixture
async def agent_flow(
    servers: dict[str, str], client: Client, unique: str, tmp_path: Path
) -> AsyncIterator[tuple[GenAIFlowClient, str]]:
    settings = private_settings(unique)
    collection = f"agent-{unique}"
    async with running_workers(client, settings) as flow:
        await ingest_folder(flow, write_corpus(tmp_path / "corpus"), collection)
        yield flow, collection


async def _until(flow: GenAIFlowClient, job_id: str, *wanted: JobStatus) -> JobStatus:
    while True:
        status = (await flow.status(job_id, with_steps=False)).status
        if status in wanted:
            return status
        await asyncio.sleep(1)


@pytest.mark.timeout(JOB_TIMEOUT_S * 2 + 120)
async def test_the_local_model_searches_pauses_at_depth_one_and_completes_after_approve(
    agent_flow: tuple[GenAIFlowClient, str], capsys: pytest.CaptureFixture[str]
) -> None:
    flow, collection = agent_flow
    task = "Search the documents for the temperature the Tamarind House is kept at, then answer."
    job = (await flow.start_agent(AgentRequest(task=task, collection=collection, max_depth=1))).job_id
    paused = await asyncio.wait_for(
        _until(flow, job, JobStatus.AWAITING_APPROVAL, JobStatus.COMPLETED, JobStatus.FAILED), JOB_TIMEOUT_S
    )
    steps = [e.step for e in await progress_events(flow.settings, job) if e.type is EventType.STEP_STARTED]
    with capsys.disabled():
        print(f"\nagent on the local model: {paused.value} after steps {steps}")
    assert paused is JobStatus.AWAITING_APPROVAL, f"no pause at depth 1 ({paused.value}; steps {steps})"
    assert "tool.search_documents#1" in steps
    state = await flow.agent_state(job)
    assert (state.depth, state.max_depth, state.reason) == (1, 1, "depth")

    # Approved, it goes on; a model that keeps searching pauses again, and is approved again (three times at most).
    for _ in range(3):
        await flow.approve(job, ApproveRequest(extend_depth=2, note="go on"), approver="cli:tester")
        await asyncio.wait_for(_until(flow, job, JobStatus.RUNNING, JobStatus.COMPLETED), JOB_TIMEOUT_S)
        status = await asyncio.wait_for(
            _until(flow, job, JobStatus.AWAITING_APPROVAL, JobStatus.COMPLETED, JobStatus.FAILED), JOB_TIMEOUT_S
        )
        if status is not JobStatus.AWAITING_APPROVAL:
            break
    info = await flow.status(job)
    assert info.status is JobStatus.COMPLETED, (info.status, info.error)
    result = AgentResult.model_validate(info.result)
    with capsys.disabled():
        print("agent result:", json.dumps(result.model_dump(mode="json", include={"outcome", "answer", "depth"})))
    assert result.outcome is Outcome.ANSWERED and result.answer and result.approvals[0].decision == "approve"
