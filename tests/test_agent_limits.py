"""AgentRun's firewall under pressure: global depth across sub-agents, the token budget, 200 steps of bounded
history, a worker killed while the run waits for approval."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from temporalio.client import Client

from schemas import search_attributes as sa
from schemas.agent import MAX_IGNORED_RECORDS, AgentRequest, AgentResult, ApproveRequest, Outcome
from schemas.jobs import JobStatus
from starter.client import GenAIFlowClient, NotAwaitingApprovalError
from tests.helpers import running_workers, sim_ledger
from tests.test_agent import TOOLS_MODULE, agent_settings, chat_calls, until_status
from tests.test_answer import _worker

MAX_HISTORY_BYTES = 1_000_000


async def agent_depth_attribute(flow: GenAIFlowClient, job_id: str) -> int | None:
    """The run's `AgentDepth` search attribute as describe() reads it (what list filters see)."""
    return (await flow.handle(job_id).describe()).typed_search_attributes.get(sa.AGENT_DEPTH)


async def test_spawn_subagent_recursion_stops_at_the_global_depth(
    servers: dict[str, str], client: Client, unique: str
) -> None:
    async with running_workers(client, agent_settings(unique)) as flow:
        task = f"Delegate this [[sim:toolloop=spawn_subagent#{unique}]]"
        job = (await flow.start_agent(AgentRequest(task=task, max_depth=3))).job_id
        await until_status(flow, job, JobStatus.AWAITING_APPROVAL)
        # Root, child and grandchild made one call each; the great-grandchild started at depth 3 and stopped at once.
        assert await chat_calls(servers, job) == 3
        state = await flow.agent_state(job)
        assert (state.depth, state.max_depth, state.reason) == (3, 3, "depth")
        # The root made one call itself; its `AgentDepth` still follows the chain's depth the sub-agent returned.
        assert await agent_depth_attribute(flow, job) == state.depth
        child = await flow.handle(f"{job}-sub1").result()
        assert AgentResult.model_validate(child).stopped == "depth"

        await flow.approve(job, ApproveRequest(extend_depth=2), approver="cli:tester")
        await until_status(flow, job, JobStatus.RUNNING)
        await until_status(flow, job, JobStatus.AWAITING_APPROVAL)
        assert await chat_calls(servers, job) == 5
        assert await agent_depth_attribute(flow, job) == (await flow.agent_state(job)).depth == 5
        await flow.reject(job, "deep enough", approver="cli:tester")
        result = AgentResult.model_validate((await flow.wait(job)).result)
    assert result.depth == 5 and result.outcome is Outcome.REJECTED
    # The sub-agents' tokens are the job's tokens: the ledger under the job's id prefix agrees with the result.
    ledger = await sim_ledger(servers["sim_url"], prefix=job)
    assert sum(e.billed_tokens for e in ledger.entries.values()) == result.usage.billed_tokens > 0


async def test_token_budget_is_exceeded_by_at_most_one_call(
    servers: dict[str, str], client: Client, unique: str
) -> None:
    async with running_workers(client, agent_settings(unique)) as flow:
        task = f"Keep shouting [[sim:toolloop=shout#{unique}]]"
        budget = 400
        job = (await flow.start_agent(AgentRequest(task=task, max_depth=1000, token_budget=budget))).job_id
        await until_status(flow, job, JobStatus.AWAITING_APPROVAL)
        ledger = await sim_ledger(servers["sim_url"], prefix=job)
        calls = [c for e in ledger.entries.values() for c in e.calls]
        billed = [c.billed_prompt_tokens + c.billed_completion_tokens for c in calls]
        assert sum(billed) >= budget and sum(billed) - billed[-1] < budget <= sum(billed)
        state = await flow.agent_state(job)
        assert state.reason == "budget" and state.tokens_used == sum(billed) and state.tokens_left == 0

        with pytest.raises(NotAwaitingApprovalError, match="extend_tokens"):
            await flow.approve(job, ApproveRequest(extend_depth=3), approver="cli:tester")
        after = await flow.approve(job, ApproveRequest(extend_tokens=300), approver="cli:tester")
        assert after.tokens_left is not None and after.tokens_left > 0
        await until_status(flow, job, JobStatus.RUNNING)
        await until_status(flow, job, JobStatus.AWAITING_APPROVAL)
        ledger = await sim_ledger(servers["sim_url"], prefix=job)
        billed = [c.billed_prompt_tokens + c.billed_completion_tokens for e in ledger.entries.values() for c in e.calls]
        assert sum(billed) - billed[-1] < budget + 300 <= sum(billed)
        await flow.reject(job, None, approver="cli:tester")
        result = AgentResult.model_validate((await flow.wait(job)).result)
    assert result.usage.billed_tokens == sum(billed)


async def test_sub_agents_get_a_slice_of_the_budget_and_stop_at_it(
    servers: dict[str, str], client: Client, unique: str
) -> None:
    async with running_workers(client, agent_settings(unique)) as flow:
        task = f"Delegate with care [[sim:toolloop=spawn_subagent#{unique}]]"
        budget = 500
        job = (await flow.start_agent(AgentRequest(task=task, max_depth=1000, token_budget=budget))).job_id
        await until_status(flow, job, JobStatus.AWAITING_APPROVAL)
        state = await flow.agent_state(job)
        child = AgentResult.model_validate(await flow.handle(f"{job}-sub1").result())
        ledger = await sim_ledger(servers["sim_url"], prefix=job)
        per_call = [
            c.billed_prompt_tokens + c.billed_completion_tokens for e in ledger.entries.values() for c in e.calls
        ]
        await flow.handle(job).terminate("test over")
    assert state.reason == "budget" and state.tokens_used == sum(per_call)
    assert child.outcome is Outcome.STOPPED and child.stopped == "budget"
    assert child.usage.billed_tokens < budget  # its slice was a share of what the root had left
    assert budget <= sum(per_call) < budget + max(per_call)


async def test_a_flood_of_ignored_signals_keeps_the_latest_and_counts_the_rest(
    servers: dict[str, str], client: Client, unique: str
) -> None:
    extra = 3
    async with running_workers(client, agent_settings(unique)) as flow:
        task = f"Spend [[sim:toolloop=shout#{unique}]]"
        job = (await flow.start_agent(AgentRequest(task=task, max_depth=100, token_budget=150))).job_id
        await until_status(flow, job, JobStatus.AWAITING_APPROVAL)
        # At a budget pause an approval without extend_tokens cannot apply: each signal is ignored, deterministically.
        for n in range(MAX_IGNORED_RECORDS + extra):
            await flow.handle(job).signal("approve", ApproveRequest(note=f"#{n}", approver="cli:noisy"))
        await flow.reject(job, "quiet please", approver="cli:tester")
        result = AgentResult.model_validate((await flow.wait(job)).result)
    *ignored, decision = result.approvals
    assert [a.note for a in ignored] == [f"#{n}" for n in range(extra, MAX_IGNORED_RECORDS + extra)]
    assert all(a.ignored and "extend_tokens" in (a.reason or "") for a in ignored)
    assert result.ignored_signals_dropped == extra
    assert (decision.decision, decision.ignored, decision.reason) == ("reject", False, "quiet please")


async def test_two_hundred_steps_with_approvals_keep_history_small(
    servers: dict[str, str], client: Client, unique: str
) -> None:
    async with running_workers(client, agent_settings(unique)) as flow:
        task = f"Shout forever [[sim:toolloop=shout#{unique}]]"
        job = (await flow.start_agent(AgentRequest(task=task, max_depth=50, continue_every=20))).job_id
        seen: set[JobStatus] = set()
        status = await until_status(flow, job, JobStatus.AWAITING_APPROVAL, timeout=240)
        for _ in range(3):
            await flow.approve(job, ApproveRequest(extend_depth=50), approver="cli:tester")
            resumed = False
            while not resumed or status is not JobStatus.AWAITING_APPROVAL:
                status = (await flow.status(job, with_steps=False)).status
                resumed = resumed or status is not JobStatus.AWAITING_APPROVAL
                seen.add(status)  # a continued run must never read as queued
                await asyncio.sleep(0.05)
        state = await flow.agent_state(job)
        assert (state.steps, state.depth) == (200, 200)
        desc = await flow.handle(job).describe()
        assert desc.raw_description.workflow_execution_info.first_run_id != desc.run_id  # it did continue-as-new
        # The memo survives continue-as-new: the request digest (duplicate detection) and what `pending` lists.
        assert await desc.memo_value("request_sha256", "") and (await desc.memo_value("task", "")).startswith("Shout")
        size = sum(e.ByteSize() for e in (await flow.handle(job).fetch_history()).events)
        assert size < MAX_HISTORY_BYTES, size
        await flow.reject(job, "two hundred is plenty", approver="cli:tester")
        result = AgentResult.model_validate((await flow.wait(job)).result)
    assert JobStatus.QUEUED not in seen, seen
    assert result.steps == 200 and result.tool_calls == 200 and len(result.approvals) == 4
    assert await chat_calls(servers, job) == 200


async def test_worker_killed_while_waiting_then_approval_resumes_on_another(
    servers: dict[str, str], client: Client, unique: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = agent_settings(unique)
    monkeypatch.setenv("GENAI_FLOW_AGENT_TOOLS", TOOLS_MODULE)  # the worker processes register the sample tools
    flow = GenAIFlowClient(client, settings)
    first = _worker(settings, None, tmp_path / "worker1.log")
    try:
        task = f"Wait for me [[sim:toolloop=shout#{unique}]]"
        job = (await flow.start_agent(AgentRequest(task=task, max_depth=2))).job_id
        await until_status(flow, job, JobStatus.AWAITING_APPROVAL)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    assert (await flow.status(job, with_steps=False)).status is JobStatus.AWAITING_APPROVAL

    second = _worker(settings, None, tmp_path / "worker2.log")
    try:
        state = await flow.approve(job, ApproveRequest(extend_depth=1, note="after the crash"), approver="cli:tester")
        assert state.max_depth == 3
        await until_status(flow, job, JobStatus.RUNNING)
        await until_status(flow, job, JobStatus.AWAITING_APPROVAL)
        await flow.reject(job, "done", approver="cli:tester")
        info = await asyncio.wait_for(flow.wait(job), 60)
    finally:
        second.terminate()
        second.wait(30)
    result = AgentResult.model_validate(info.result)
    assert result.depth == 3 and [a.decision for a in result.approvals] == ["approve", "reject"]
    assert await chat_calls(servers, job) == 3
