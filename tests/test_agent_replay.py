"""Replay tests for AgentRun: recorded histories (approvals, signals, sub-agents, timeout) replay against today's code.

Record new ones after a deliberate, patched change with
`GENAI_FLOW_RECORD_HISTORIES=1 pytest tests/test_agent_replay.py` and keep the old ones: both must replay.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from schemas.agent import AgentRequest, ApproveRequest
from schemas.jobs import JobStatus
from starter.client import GenAIFlowClient
from tests.helpers import running_workers
from tests.test_agent import agent_settings, until_status
from tests.test_replay import HISTORIES, scrubbed
from workflows.agent import AgentRun


def replayer() -> Replayer:
    """A replayer for the agent workflow with the project's data converter."""
    return Replayer(workflows=[AgentRun], data_converter=pydantic_data_converter)


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("agent-*.json")), ids=lambda p: p.stem)
async def test_recorded_agent_history_replays(path: Path) -> None:
    recorded = json.loads(path.read_text())
    # Child workflow ids derive from the job id, so the replay needs the recorded id, not the file name.
    history = WorkflowHistory.from_json(recorded.pop("workflowId"), recorded)
    result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


def test_recorded_agent_histories_exist() -> None:
    assert len(list(HISTORIES.glob("agent-*.json"))) >= 3


async def _approved_then_rejected(flow: GenAIFlowClient, unique: str) -> str:
    task = f"Loop [[sim:toolloop=shout#{unique}a]] [[sim:latency=200ms]]"
    job = (await flow.start_agent(AgentRequest(task=task, max_depth=2, continue_every=10))).job_id
    await until_status(flow, job, JobStatus.RUNNING)
    await flow.handle(job).signal("approve", ApproveRequest(extend_depth=1))  # ignored: not waiting
    await until_status(flow, job, JobStatus.AWAITING_APPROVAL)
    await flow.handle(job).signal("approve", ApproveRequest())  # the Temporal CLI's way
    await until_status(flow, job, JobStatus.RUNNING)
    await until_status(flow, job, JobStatus.AWAITING_APPROVAL)
    await flow.approve(job, ApproveRequest(extend_depth=1, note="n"), approver="cli:recorder")
    await until_status(flow, job, JobStatus.RUNNING)
    await until_status(flow, job, JobStatus.AWAITING_APPROVAL)
    await flow.reject(job, "enough", approver="cli:recorder")
    return job


async def _subagents(flow: GenAIFlowClient, unique: str) -> str:
    task = f"Delegate [[sim:toolloop=spawn_subagent#{unique}b]]"
    job = (await flow.start_agent(AgentRequest(task=task, max_depth=2))).job_id
    await until_status(flow, job, JobStatus.AWAITING_APPROVAL)
    await flow.reject(job, "stop", approver="cli:recorder")
    return job


async def _timed_out(flow: GenAIFlowClient, unique: str) -> str:
    task = f"Loop [[sim:toolloop#{unique}c]]"
    return (await flow.start_agent(AgentRequest(task=task, max_depth=1, approval_timeout_s=1))).job_id


async def _budget(flow: GenAIFlowClient, unique: str) -> str:
    task = f"Spend [[sim:toolloop=shout#{unique}d]]"
    job = (await flow.start_agent(AgentRequest(task=task, max_depth=100, token_budget=150))).job_id
    await until_status(flow, job, JobStatus.AWAITING_APPROVAL)
    await flow.approve(job, ApproveRequest(extend_tokens=100), approver="cli:recorder")
    await until_status(flow, job, JobStatus.RUNNING)
    await until_status(flow, job, JobStatus.AWAITING_APPROVAL)
    await flow.reject(job, "spent", approver="cli:recorder")
    return job


async def _answered(flow: GenAIFlowClient, unique: str) -> str:
    return (await flow.start_agent(AgentRequest(task=f"Say hello ({unique})", max_depth=3))).job_id


async def test_fresh_agent_runs_replay(servers: dict[str, str], client: Client, unique: str) -> None:
    scenarios = {"rejected": _approved_then_rejected, "subagents": _subagents, "timeout": _timed_out}
    scenarios |= {"budget": _budget, "answered": _answered}
    async with running_workers(client, agent_settings(unique)) as flow:
        jobs = {name: await make(flow, unique) for name, make in scenarios.items()}
        for job in jobs.values():
            await until_status(flow, job, JobStatus.COMPLETED)
        outcomes = {name: (await flow.status(job, with_steps=False)).outcome for name, job in jobs.items()}
    assert outcomes == {
        "rejected": "rejected",
        "subagents": "rejected",
        "timeout": "rejected",
        "budget": "rejected",
    } | {"answered": "answered"}
    for name, job in jobs.items():
        history = await client.get_workflow_handle(job).fetch_history()
        result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, (name, result.replay_failure)
        if os.environ.get("GENAI_FLOW_RECORD_HISTORIES"):
            recorded = {"workflowId": job, **json.loads(scrubbed(history.to_json()))}
            (HISTORIES / f"agent-{name}.json").write_text(json.dumps(recorded, indent=1))
