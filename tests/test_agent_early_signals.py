"""Signals that reach AgentRun before its first workflow task (signal-with-start, a continued run's first task) are
ignored and stay in the audit list, like any signal that arrives while the run is not waiting."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from temporalio.client import Client, WorkflowHandle

from schemas import queues
from schemas.agent import (
    AgentCarry,
    AgentRequest,
    AgentResult,
    AgentRunInput,
    AgentState,
    ApprovalRecord,
    ApproveRequest,
    Outcome,
    RejectRequest,
)
from starter.client import GenAIFlowClient
from tests.helpers import running_workers
from tests.test_agent import agent_settings
from workflows.agent import AgentRun

EARLY = ApproveRequest(extend_depth=5, note="too early", approver="cli:early")


async def start_with_signal(
    flow: GenAIFlowClient, job: str, arg: AgentRequest
) -> WorkflowHandle[AgentRun, AgentResult]:
    """Signal-with-start: the server puts the signal in history before the run's first workflow task."""
    return await flow.temporal.start_workflow(
        AgentRun.run,
        AgentRunInput(**arg.model_dump()),
        id=job,
        task_queue=queues.queue(queues.WORKFLOWS, flow.settings.task_queue_prefix),
        start_signal="approve",
        start_signal_args=[EARLY],
        result_type=AgentResult,
    )


async def paused(handle: WorkflowHandle[AgentRun, AgentResult]) -> AgentState:
    """Poll the `state` query until the run waits for approval."""
    for _ in range(300):
        state = await handle.query(AgentRun.state)
        if state.awaiting_approval:
            return state
        await asyncio.sleep(0.1)
    raise AssertionError("the run never paused")


def assert_early_signal_audited(record: ApprovalRecord) -> None:
    """The early signal shows as ignored (not waiting), with who sent it and its note."""
    assert (record.decision, record.via, record.approver, record.note) == ("approve", "signal", "cli:early", EARLY.note)
    assert record.ignored and "not awaiting approval" in (record.reason or "")
    assert record.extend_depth is None  # audited, never applied


async def test_a_signal_before_the_first_workflow_task_is_audited_not_applied(
    servers: dict[str, str], client: Client, unique: str
) -> None:
    async with running_workers(client, agent_settings(unique)) as flow:
        request = AgentRequest(task=f"Loop [[sim:toolloop=shout#{unique}]]", max_depth=1)
        handle = await start_with_signal(flow, f"agent-early-{unique}", request)
        state = await paused(handle)
        assert (state.depth, state.max_depth) == (1, 1)  # not a pre-approval: the limit is the request's
        await handle.execute_update(AgentRun.reject_update, RejectRequest(reason="stop", approver="cli:tester"))
        result = await handle.result()
    early, decision = result.approvals
    assert_early_signal_audited(early)
    assert (result.outcome, decision.decision, decision.reason) == (Outcome.REJECTED, "reject", "stop")


async def test_a_signal_before_a_continued_runs_first_task_keeps_the_carried_audit_list(
    servers: dict[str, str], client: Client, unique: str
) -> None:
    # A continued run is a run started with `carry`: the signal lands on the carried state, next to its records.
    before = ApprovalRecord(
        decision="approve", approver="cli:before", via="update", extend_depth=1, at=datetime.now(UTC)
    )
    carry = AgentCarry(depth=2, max_depth=2, steps=2, approvals=[before], ignored_signals_dropped=4)
    async with running_workers(client, agent_settings(unique)) as flow:
        request = AgentRunInput(task=f"Continue [[sim:toolloop=shout#{unique}]]", max_depth=1, carry=carry)
        handle = await start_with_signal(flow, f"agent-early-continued-{unique}", request)
        state = await paused(handle)
        assert (state.depth, state.max_depth, state.steps) == (2, 2, 2)  # the carried state, not the request's
        await handle.signal(AgentRun.reject_signal, RejectRequest(reason="stop"))
        result = await handle.result()
    kept, early, decision = result.approvals
    assert kept.approver == "cli:before" and not kept.ignored
    assert_early_signal_audited(early)
    assert (decision.decision, decision.approver, decision.reason) == ("reject", "temporal-cli", "stop")
    assert result.ignored_signals_dropped == 4


def test_the_state_query_answers_from_the_requests_limits_before_the_run_starts() -> None:
    # Queries can arrive while `begin()` fetches the tools: they see the run's real limits, not a placeholder.
    run = AgentRun(AgentRunInput(task="t", max_depth=7, token_budget=500))
    state = run.state()
    assert (state.depth, state.max_depth, state.tokens_left, state.awaiting_approval) == (0, 7, 500, False)
