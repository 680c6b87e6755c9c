"""AgentRun's firewall on the real stack: the token budget as the provider bills it, continue-as-new as clients see
it, a worker killed while the run waits for approval (the workflow's own branches are tested in tests/inproc/)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from temporalio.client import Client

from schemas.agent import AgentRequest, AgentResult, ApproveRequest
from schemas.jobs import JobStatus
from starter.client import GenAIFlowClient, NotAwaitingApprovalError
from tests.helpers import running_workers, sim_ledger
from tests.test_agent import TOOLS_MODULE, agent_settings, chat_calls, until_status
from tests.test_answer import _worker


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


async def test_a_continued_run_never_reads_as_queued_and_keeps_its_memo(
    servers: dict[str, str], client: Client, unique: str
) -> None:
    # Continue-as-new as clients see it; the workflow's branch (200 steps, small histories) is tested in-process.
    async with running_workers(client, agent_settings(unique)) as flow:
        task = f"Shout forever [[sim:toolloop=shout#{unique}]]"
        job = (await flow.start_agent(AgentRequest(task=task, max_depth=2, continue_every=2))).job_id
        seen: set[JobStatus] = set()
        status = await until_status(flow, job, JobStatus.AWAITING_APPROVAL)
        await flow.approve(job, ApproveRequest(extend_depth=4), approver="cli:tester")  # continues at 2, 4 and 6
        resumed = False
        while not resumed or status is not JobStatus.AWAITING_APPROVAL:
            status = (await flow.status(job, with_steps=False)).status
            resumed = resumed or status is not JobStatus.AWAITING_APPROVAL
            seen.add(status)  # a continued run must never read as queued
            await asyncio.sleep(0.05)
        desc = await flow.handle(job).describe()
        assert desc.raw_description.workflow_execution_info.first_run_id != desc.run_id  # it did continue-as-new
        # The memo survives continue-as-new: the request digest (duplicate detection) and what `pending` lists.
        assert await desc.memo_value("request_sha256", "") and (await desc.memo_value("task", "")).startswith("Shout")
        await flow.reject(job, "six is plenty", approver="cli:tester")
        result = AgentResult.model_validate((await flow.wait(job)).result)
    assert JobStatus.QUEUED not in seen, seen
    assert result.steps == 6 and len(result.approvals) == 2
    assert await chat_calls(servers, job) == 6


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
        # The update waits for the new worker process, which may still be importing on a loaded machine.
        approval = ApproveRequest(extend_depth=1, note="after the crash")
        state = await flow.approve(job, approval, approver="cli:tester", timeout_s=120)
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
