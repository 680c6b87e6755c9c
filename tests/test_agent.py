"""AgentRun on the real stack: the depth firewall, approvals (update, signal, CLI), user tools, dead-letter replay
(the workflow's own branches, the approval timeout included, are tested in tests/inproc/)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client

from runtime.keys import RedisKeys
from runtime.redis import redis_client
from runtime.settings import Settings
from schemas import search_attributes as sa
from schemas.agent import AgentRequest, AgentResult, AgentState, ApproveRequest, Outcome
from schemas.events import EventType
from schemas.jobs import JobStatus
from starter.client import GenAIFlowClient, NotAwaitingApprovalError
from tests.helpers import private_settings, progress_events, running_workers, sim_ledger

TOOLS_MODULE = "tests.agent_tool_sample"
BIN = Path(sys.executable).parent


def agent_settings(unique: str) -> Settings:
    """This test's queues and keys, with the sample user tools registered as documented."""
    return private_settings(unique).model_copy(update={"agent_tool_modules": [TOOLS_MODULE]})


@pytest_asyncio.fixture
async def agent_env(servers: dict[str, str], client: Client, unique: str) -> AsyncIterator[GenAIFlowClient]:
    """Workers on this test's private queues."""
    async with running_workers(client, agent_settings(unique)) as flow:
        yield flow


async def until_status(flow: GenAIFlowClient, job_id: str, *wanted: JobStatus, timeout: float = 60) -> JobStatus:
    """Poll the job's status (from describe + search attributes) until it is one of `wanted`."""

    async def poll() -> JobStatus:
        while True:
            info = await flow.status(job_id, with_steps=False)
            if info.status in wanted:
                return info.status
            await asyncio.sleep(0.2)

    return await asyncio.wait_for(poll(), timeout)


async def chat_calls(servers: dict[str, str], job_id: str) -> int:
    """Chat completions (embeddings excluded) the simulator received under the job's keys, sub-agents included."""
    ledger = await sim_ledger(servers["sim_url"], prefix=job_id)
    return sum(1 for e in ledger.entries.values() for c in e.calls if c.endpoint == "chat")


async def test_toolloop_pauses_at_max_depth_then_approve_extends_and_reject_ends(
    agent_env: GenAIFlowClient, servers: dict[str, str], unique: str
) -> None:
    flow = agent_env
    started = await flow.start_agent(AgentRequest(task=f"Research the reactor [[sim:toolloop#{unique}]]", max_depth=3))
    job = started.job_id
    assert job.startswith("agent-")
    assert await until_status(flow, job, JobStatus.AWAITING_APPROVAL) is JobStatus.AWAITING_APPROVAL
    assert await chat_calls(servers, job) == 3
    state = await flow.agent_state(job)
    assert (state.depth, state.max_depth, state.awaiting_approval, state.reason) == (3, 3, True, "depth")
    attrs = (await flow.handle(job).describe()).typed_search_attributes
    assert attrs.get(sa.AGENT_DEPTH) == 3 and attrs.get(sa.AWAITING_APPROVAL) is True
    assert state.pending_question and "3/3" in state.pending_question
    paused = [e for e in await progress_events(flow.settings, job) if e.type is EventType.AWAITING_APPROVAL]
    assert len(paused) == 1 and paused[0].data["reason"] == "depth" and paused[0].data["pending_question"]
    assert "tokens_used" in paused[0].data
    # Tool calls show as steps `tool.<name>#<n>` in the job's events.
    steps = {e.step for e in await progress_events(flow.settings, job) if e.type is EventType.STEP_STARTED}
    assert {"chat#1", "chat#2", "chat#3", "tool.search_documents#1"} <= steps

    after = await flow.approve(job, ApproveRequest(extend_depth=2, note="two more"), approver="cli:tester")
    assert after.max_depth == 5
    await until_status(flow, job, JobStatus.RUNNING)
    await until_status(flow, job, JobStatus.AWAITING_APPROVAL)
    assert await chat_calls(servers, job) == 5

    pending = await flow.pending()
    row = next(p for p in pending if p.job_id == job)
    assert row.reason == "depth" and row.depth == 5 and row.max_depth == 5 and row.deadline and row.pending_question

    await flow.reject(job, "enough research", approver="cli:tester")
    info = await flow.wait(job)
    assert info.status is JobStatus.COMPLETED and info.outcome == "rejected"
    result = AgentResult.model_validate(info.result)
    assert result.outcome is Outcome.REJECTED and result.reason == "enough research"
    assert [(a.decision, a.approver, a.extend_depth, a.note) for a in result.approvals] == [
        ("approve", "cli:tester", 2, "two more"),
        ("reject", "cli:tester", None, None),
    ]
    assert result.depth == 5 and await chat_calls(servers, job) == 5
    kinds = [e.type for e in await progress_events(flow.settings, job)]
    assert kinds.count(EventType.APPROVED) == 1 and kinds.count(EventType.REJECTED) == 1
    assert kinds[-1] is EventType.JOB_COMPLETED
    with pytest.raises(NotAwaitingApprovalError, match="completed"):
        await flow.approve(job, ApproveRequest(), approver="cli:tester")


async def test_temporal_cli_signal_approves_and_signal_while_running_is_ignored(
    agent_env: GenAIFlowClient, servers: dict[str, str], unique: str
) -> None:
    flow = agent_env
    task = f"Look it up [[sim:toolloop#{unique}]] [[sim:latency=300ms]]"
    job = (await flow.start_agent(AgentRequest(task=task, max_depth=2))).job_id
    await until_status(flow, job, JobStatus.RUNNING)
    # While it runs: a signal is ignored (audited), and an update is refused with a reason.
    await flow.handle(job).signal("approve", ApproveRequest(extend_depth=5, approver="cli:early"))
    with pytest.raises(NotAwaitingApprovalError, match="not awaiting approval"):
        await flow.approve(job, ApproveRequest(), approver="cli:early")
    await until_status(flow, job, JobStatus.AWAITING_APPROVAL)
    assert await chat_calls(servers, job) == 2  # the early signal extended nothing

    address = servers["TEMPORAL_ADDRESS"]
    cli = subprocess.run(
        [str(BIN / "temporal"), "workflow", "signal", "--workflow-id", job, "--name", "approve",
         "--input", '{"extend_depth": 1}', "--address", address],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    await until_status(flow, job, JobStatus.RUNNING, JobStatus.AWAITING_APPROVAL)
    state: AgentState | None = None
    for _ in range(300):
        state = await flow.agent_state(job)
        if state.awaiting_approval and state.depth == 3:
            break
        await asyncio.sleep(0.1)
    assert state is not None and (state.depth, state.max_depth) == (3, 3)
    await flow.reject(job, None, approver="cli:tester")
    result = AgentResult.model_validate((await flow.wait(job)).result)
    first, second, third = result.approvals
    assert first.ignored and first.via == "signal" and first.approver == "cli:early"
    assert "not awaiting" in (first.reason or "")
    assert not second.ignored and second.via == "signal" and second.approver == "temporal-cli"
    assert second.extend_depth == 1 and third.decision == "reject"


async def test_user_tool_is_offered_and_its_result_reaches_the_next_step(
    agent_env: GenAIFlowClient, unique: str
) -> None:
    flow = agent_env
    task = f"Convert 10 km [[sim:toolloop=convert_units#{unique}]]"
    job = (await flow.start_agent(AgentRequest(task=task, max_depth=2))).job_id
    await until_status(flow, job, JobStatus.AWAITING_APPROVAL)
    redis = redis_client(flow.settings)
    try:
        raw = await redis.lrange(RedisKeys.of(flow.settings).agent_transcript(job), 0, -1)
    finally:
        await redis.aclose()
    messages = [json.loads(m) for m in raw]
    roles = [m["role"] for m in messages]
    assert roles == ["system", "user", "assistant", "tool", "assistant"]
    assert messages[2]["tool_calls"][0]["name"] == "convert_units"
    assert "ZX-42" in messages[3]["content"]  # the tool's result went into the prompt of step 2
    steps = {e.step for e in await progress_events(flow.settings, job) if e.type is EventType.STEP_COMPLETED}
    assert "tool.convert_units#1" in steps
    await flow.reject(job, "done", approver="cli:tester")


async def test_a_dead_lettered_agent_replays_with_dlq_replay(agent_env: GenAIFlowClient, unique: str) -> None:
    from starter.dlq import list_dead_letters, replay

    flow = agent_env
    job = (await flow.start_agent(AgentRequest(task=f"Fail [[sim:poison#{unique}]]", max_depth=4))).job_id
    assert await until_status(flow, job, JobStatus.DEAD_LETTERED, timeout=120) is JobStatus.DEAD_LETTERED
    entry = next(d for d in await list_dead_letters(flow) if d.job_id == job)
    assert entry.pipeline == "agent" and entry.step == "chat#1" and entry.attempts == 5
    replayed = await replay(flow, job, {"task": f"Say hello instead ({unique})", "max_depth": 4})
    assert replayed.job_id == f"{job}-replay-1"
    await until_status(flow, replayed.job_id, JobStatus.COMPLETED)
    info = await flow.status(replayed.job_id)
    assert info.outcome == "answered" and AgentResult.model_validate(info.result).answer
