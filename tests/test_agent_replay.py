"""Replay tests for AgentRun: recorded histories (approvals, signals, sub-agents, timeout, continue-as-new) replay
against today's code.

Record new ones after a deliberate, patched change with
`GENAI_FLOW_RECORD_HISTORIES=<patch id> pytest tests/test_agent_replay.py` (files `agent-<scenario>-<patch id>.json`,
a continued job's runs `agent-<scenario>-run<n>-<patch id>.json`) and keep the old ones: both must replay.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from schemas.agent import AgentRequest, AgentResult, ApproveRequest
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
    recorded = [json.loads(p.read_text())["events"] for p in HISTORIES.glob("agent-*.json")]
    assert len(recorded) >= 3
    # Continue-as-new stays covered: one recorded run ends in it and another starts from it.
    assert any(events[-1]["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW" for events in recorded)
    starts = [events[0]["workflowExecutionStartedEventAttributes"] for events in recorded]
    assert any(start.get("continuedExecutionRunId") for start in starts)


async def run_histories(client: Client, job_id: str) -> list[WorkflowHistory]:
    """Every run of a job, first to last: a continued run's start event names the run before it."""
    histories: list[WorkflowHistory] = []
    run_id: str | None = None
    while True:
        history = await client.get_workflow_handle(job_id, run_id=run_id).fetch_history()
        histories.insert(0, history)
        run_id = history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id
        if not run_id:
            return histories


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


async def _continued(flow: GenAIFlowClient, unique: str) -> str:
    # Two steps per run: the first run pauses and is approved before it continues as new, the second after.
    task = f"Loop on [[sim:toolloop=shout#{unique}e]] [[sim:latency=200ms]]"
    job = (await flow.start_agent(AgentRequest(task=task, max_depth=1, continue_every=2))).job_id
    await until_status(flow, job, JobStatus.AWAITING_APPROVAL)
    await flow.approve(job, ApproveRequest(note="before"), approver="cli:recorder")
    await until_status(flow, job, JobStatus.RUNNING)
    await until_status(flow, job, JobStatus.AWAITING_APPROVAL)  # the continued run, at depth 2 of 2
    await flow.approve(job, ApproveRequest(note="after"), approver="cli:recorder")
    await until_status(flow, job, JobStatus.RUNNING)
    await until_status(flow, job, JobStatus.AWAITING_APPROVAL)
    await flow.reject(job, "continued enough", approver="cli:recorder")
    return job


async def _answered(flow: GenAIFlowClient, unique: str) -> str:
    return (await flow.start_agent(AgentRequest(task=f"Say hello ({unique})", max_depth=3))).job_id


async def test_fresh_agent_runs_replay(servers: dict[str, str], client: Client, unique: str) -> None:
    scenarios = {"rejected": _approved_then_rejected, "subagents": _subagents, "timeout": _timed_out}
    scenarios |= {"budget": _budget, "continued": _continued, "answered": _answered}
    async with running_workers(client, agent_settings(unique)) as flow:
        jobs = {name: await make(flow, unique) for name, make in scenarios.items()}
        for job in jobs.values():
            await until_status(flow, job, JobStatus.COMPLETED)
        infos = {name: await flow.status(job, with_steps=False) for name, job in jobs.items()}
    assert {name: info.outcome for name, info in infos.items()} == {
        "rejected": "rejected",
        "subagents": "rejected",
        "timeout": "rejected",
        "budget": "rejected",
        "continued": "rejected",
    } | {"answered": "answered"}
    runs = {name: await run_histories(client, job) for name, job in jobs.items()}
    assert len(runs["continued"]) == 2 and all(len(h) == 1 for name, h in runs.items() if name != "continued")
    continued = AgentResult.model_validate(infos["continued"].result)
    assert [(a.decision, a.note) for a in continued.approvals] == [
        ("approve", "before"),
        ("approve", "after"),
        ("reject", None),
    ]
    assert (continued.steps, continued.depth) == (3, 3)
    for name, histories in runs.items():
        for n, history in enumerate(histories, start=1):
            result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
            assert result.replay_failure is None, (name, n, result.replay_failure)
            if tag := os.environ.get("GENAI_FLOW_RECORD_HISTORIES"):
                run = f"-run{n}" if len(histories) > 1 else ""
                suffix = "" if tag == "1" else f"-{tag}"  # a tag keeps the histories of earlier code beside new ones
                recorded = {"workflowId": jobs[name], **json.loads(scrubbed(history.to_json()))}
                (HISTORIES / f"agent-{name}{run}{suffix}.json").write_text(json.dumps(recorded, indent=1))
