"""`genai-flow agent`, `pending`, `approve`, `reject` as a user runs them: output, JSON and exit codes."""

from __future__ import annotations

import json

import pytest
from temporalio.client import Client

from schemas.agent import AgentRequest, AgentState, PendingApproval
from schemas.jobs import JobInfo, JobStatus
from starter.cli.durations import format_duration, parse_duration
from starter.client import GenAIFlowClient
from tests.helpers import running_workers
from tests.test_agent import agent_settings, until_status
from tests.test_cli_answer import cli


async def test_agent_wait_returns_at_the_pause_with_the_commands_then_approve_and_reject(
    servers: dict[str, str], client: Client, unique: str
) -> None:
    settings = agent_settings(unique)
    async with running_workers(client, settings) as flow:
        task = f"Dig deeper [[sim:toolloop#{unique}]]"
        code, out, err = await cli(settings, "agent", task, "--max-depth", "2", "--approval-timeout", "5m", "--wait")
        assert code == 0, err
        job = out.split("job ", 1)[1].split()[0]
        assert "awaiting approval" in out and "depth limit" in out
        assert f"genai-flow approve {job} --extend-depth 1" in out and f"genai-flow reject {job}" in out

        code, out, _ = await cli(settings, "pending", "--json")
        rows = [PendingApproval.model_validate(r) for r in json.loads(out)]
        row = next(r for r in rows if r.job_id == job)
        assert code == 0 and row.reason == "depth" and (row.depth, row.max_depth) == (2, 2)
        assert row.task.startswith("Dig")

        code, out, err = await cli(settings, "approve", job, "--extend-depth", "1", "--note", "one more", "--json")
        assert code == 0, err
        assert AgentState.model_validate_json(out).max_depth == 3
        await until_status(flow, job, JobStatus.AWAITING_APPROVAL)

        code, out, err = await cli(settings, "reject", job, "--reason", "over budget")
        assert code == 0 and "rejected" in out, err
        code, out, _ = await cli(settings, "status", job, "--json")
        info = JobInfo.model_validate_json(out)
        assert code == 4 and info.outcome == "rejected" and info.result and info.result["reason"] == "over budget"
        approvals = info.result["approvals"]
        assert approvals[0]["approver"].startswith("cli:") and approvals[0]["note"] == "one more"
        code, _, err = await cli(settings, "reject", job)
        assert code == 4 and "not awaiting approval (it is completed)" in err and "Traceback" not in err


async def test_pending_works_without_a_worker_and_an_approval_nobody_takes_exits_5(
    servers: dict[str, str], client: Client, unique: str
) -> None:
    settings = agent_settings(unique)
    async with running_workers(client, settings) as flow:
        job = (await flow.start_agent(AgentRequest(task=f"Loop [[sim:toolloop#{unique}]]", max_depth=1))).job_id
        await until_status(flow, job, JobStatus.AWAITING_APPROVAL)
    # The workers are gone: `pending` reads visibility + memo; an approval waits for a worker, then exits 5.
    code, out, _ = await cli(settings, "pending", "--json")
    assert code == 0 and any(r["job_id"] == job and r["pending_question"] for r in json.loads(out))
    code, _, err = await cli(settings, "approve", job)
    assert code == 5 and "no worker took" in err
    flow = GenAIFlowClient(client, settings)
    assert (await flow.status(job, with_steps=False)).status is JobStatus.AWAITING_APPROVAL
    await flow.handle(job).terminate("test over")


async def test_agent_usage_errors_exit_2(servers: dict[str, str], unique: str) -> None:
    settings = agent_settings(unique)
    code, _, err = await cli(settings, "agent", "x", "--approval-timeout", "5 weeks")
    assert code == 2 and "invalid duration" in err
    code, _, err = await cli(settings, "agent", "x", "--max-depth", "0")
    assert code == 2 and "max_depth" in err
    code, _, err = await cli(settings, "approve", "agent-nope", "--extend-depth", "0")
    assert code == 2 and "extend_depth" in err
    code, _, err = await cli(settings, "approve", "agent-does-not-exist")
    assert code == 2 and "no job" in err


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("5m", 300), ("2h", 7200), ("1d", 86400), ("1.5h", 5400)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "-5m", "5w", "m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration(text)


async def test_approve_while_the_agent_runs_is_refused_with_exit_4(
    servers: dict[str, str], client: Client, unique: str
) -> None:
    settings = agent_settings(unique)
    async with running_workers(client, settings) as flow:
        task = f"Think slowly [[sim:latency=60s]] ({unique})"  # never done before the test terminates it
        job = (await flow.start_agent(AgentRequest(task=task, max_depth=2))).job_id
        await until_status(flow, job, JobStatus.RUNNING)
        code, _, err = await cli(settings, "approve", job, "--extend-depth", "1")
        assert code == 4 and f"job {job} is not awaiting approval (it is running)" in err and "Traceback" not in err
        code, _, err = await cli(settings, "reject", job, "--reason", "too slow")
        assert code == 4 and "not awaiting approval" in err
        await flow.handle(job).terminate("test over")


@pytest.mark.parametrize(("seconds", "text"), [(86400, "1d"), (7200, "2h"), (300, "5m"), (90, "90s"), (5400, "90m")])
def test_durations_format_as_they_parse(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text and parse_duration(text) == seconds
