"""AgentRun's branches in-process: depth and budget pauses, approvals by signal, the timeout, sub-agents, tools,
continue-as-new and dead letters (approvals go by signal: the test server does not skip time during an update)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from schemas import search_attributes as sa
from schemas.agent import (
    BUILTIN_TOOLS,
    MAX_IGNORED_RECORDS,
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
from schemas.events import EventType
from tests.inproc.conftest import Rig
from tests.inproc.stubs import answers, toolloop

HISTORY_LIMIT_BYTES = 1_000_000


@dataclass
class Agent:
    """One AgentRun under test: signals and queries go to its latest run, as the gateway's do."""

    rig: Rig
    handle: WorkflowHandle[Any, AgentResult]  # the start's handle: the server skips time while its result is awaited

    @property
    def id(self) -> str:
        """The job id."""
        return self.handle.id

    @property
    def latest(self) -> WorkflowHandle[Any, Any]:
        """The job's latest run (continue-as-new included)."""
        return self.rig.latest(self.handle)

    async def paused(self, pauses: int = 1) -> AgentState:
        """The `state` query once the run published its `pauses`-th `awaiting_approval` (it is waiting then)."""
        for _ in range(3000):  # 30 s: a loaded machine runs 50 steps in a few
            if len(self.pauses()) >= pauses:
                state: AgentState = await self.latest.query("state", result_type=AgentState)
                assert state.awaiting_approval, state
                return state
            await asyncio.sleep(0.01)
        raise AssertionError(f"the run never paused {pauses} time(s): {self.pauses()}")

    def pauses(self) -> list[dict[str, Any]]:
        """The `awaiting_approval` events so far (one published again by a re-run local activity counts once)."""
        events = [e.data for e in self.rig.stubs.events if e.type is EventType.AWAITING_APPROVAL]
        return [json.loads(data) for data in dict.fromkeys(json.dumps(d, sort_keys=True) for d in events)]

    async def signal(self, name: str, arg: ApproveRequest | RejectRequest) -> None:
        """Send a signal as the Temporal CLI or the Web UI would."""
        await self.latest.signal(name, arg)

    async def approve(self, **fields: Any) -> AgentState:
        """Signal `approve` as the CLI's user, then wait for the run's next pause."""
        pauses = len(self.pauses())
        await self.signal("approve", ApproveRequest(approver="cli:tester", **fields))
        return await self.paused(pauses + 1)

    async def reject(self, reason: str | None = "enough") -> AgentResult:
        """Signal `reject` and wait for the result."""
        await self.signal("reject", RejectRequest(reason=reason, approver="cli:tester"))
        return await self.result()

    async def result(self) -> AgentResult:
        """The job's result (following continue-as-new)."""
        result: AgentResult = await self.handle.result()
        return result

    async def attributes(self) -> Any:
        """The latest run's search attributes as describe() reads them."""
        return (await self.latest.describe()).typed_search_attributes


async def start(rig: Rig, **request: Any) -> Agent:
    """Start an AgentRun with the request's fields."""
    run_input = AgentRunInput(**{"task": "Research the reactor", **request})
    return Agent(rig, await rig.start("AgentRun", run_input, AgentResult))


async def test_the_depth_pause_is_visible_then_approve_extends_and_reject_ends(rig: Rig) -> None:
    agent = await start(rig, max_depth=3)
    state = await agent.paused()
    assert (state.depth, state.max_depth, state.reason, state.tokens_used) == (3, 3, "depth", 150)
    assert state.pending_question and "3/3" in state.pending_question and state.deadline
    assert rig.stubs.model_calls.total() == 3 and len(rig.stubs.inputs("tool.shout")) == 3
    attrs = await agent.attributes()
    assert attrs.get(sa.AGENT_DEPTH) == 3 and attrs.get(sa.AWAITING_APPROVAL) is True
    memo = await (await agent.latest.describe()).memo()
    assert memo["pause_reason"] == "depth" and memo["pending_question"] == state.pending_question
    [event] = agent.pauses()
    assert event["reason"] == "depth" and event["pending_question"] and "tokens_used" in event

    state = await agent.approve(extend_depth=2, note="two more")
    assert (state.depth, state.max_depth) == (5, 5) and rig.stubs.model_calls.total() == 5
    result = await agent.reject("enough research")
    assert result.outcome is Outcome.REJECTED and result.reason == "enough research" and result.depth == 5
    assert [(a.decision, a.approver, a.via, a.extend_depth, a.note) for a in result.approvals] == [
        ("approve", "cli:tester", "signal", 2, "two more"),
        ("reject", "cli:tester", "signal", None, None),
    ]
    assert (await agent.attributes()).get(sa.AWAITING_APPROVAL) is False
    kinds = rig.stubs.event_types()
    assert kinds.count(EventType.APPROVED) == 1 and kinds.count(EventType.REJECTED) == 1
    [closing] = rig.stubs.finished
    assert closing.event == "job.completed" and closing.data["outcome"] == "rejected"


async def test_an_approval_without_extend_depth_allows_one_more_call(rig: Rig) -> None:
    agent = await start(rig, max_depth=2)
    await agent.paused()
    state = await agent.approve()
    assert (state.depth, state.max_depth) == (3, 3)
    result = await agent.reject()
    assert result.approvals[0].extend_depth == 1 and result.steps == 3


async def test_a_signal_while_the_run_is_not_waiting_is_ignored_and_audited(rig: Rig) -> None:
    rig.stubs.gate = asyncio.Event()  # hold the first model call: the run is busy, not waiting
    agent = await start(rig, max_depth=2)
    for _ in range(500):
        if rig.stubs.model_calls:
            break
        await asyncio.sleep(0.01)
    await agent.signal("approve", ApproveRequest(extend_depth=5, approver="cli:early", note="too early"))
    await agent.signal("reject", RejectRequest(reason="too early too", approver="cli:early"))
    rig.stubs.gate.set()
    state = await agent.paused()
    assert (state.depth, state.max_depth) == (2, 2)  # the early signals extended and ended nothing
    result = await agent.reject(None)
    early_approve, early_reject, decision = result.approvals
    assert early_approve.ignored and early_approve.via == "signal" and early_approve.approver == "cli:early"
    assert "not awaiting" in (early_approve.reason or "") and early_approve.extend_depth is None
    assert early_reject.ignored and early_reject.decision == "reject"
    assert (decision.decision, decision.ignored, result.outcome) == ("reject", False, Outcome.REJECTED)


async def test_the_approval_timeout_rejects_the_run(rig: Rig) -> None:
    agent = await start(rig, max_depth=1)  # the default 24 h timeout: the test server skips it
    result = await agent.result()
    assert result.outcome is Outcome.REJECTED and result.reason == "approval timed out"
    last = result.approvals[-1]
    assert (last.decision, last.via, last.approver) == ("reject", "timeout", "system")
    assert EventType.REJECTED in rig.stubs.event_types()
    assert rig.stubs.finished[-1].data["outcome"] == "rejected"
    assert (await (await agent.latest.describe()).memo())["outcome"] == "rejected"  # what `status` reports


async def test_the_budget_pause_overshoots_by_at_most_one_call_and_needs_extend_tokens(rig: Rig) -> None:
    agent = await start(rig, max_depth=1000, token_budget=120)  # each call bills 50: 50, 100, 150
    state = await agent.paused()
    assert (state.reason, state.tokens_used, state.tokens_left, state.steps) == ("budget", 150, 0, 3)
    await agent.signal("approve", ApproveRequest(extend_depth=3, approver="cli:tester"))  # no tokens: ignored
    state = await agent.approve(extend_tokens=100)  # 220: 200, 250
    assert (state.reason, state.tokens_used, state.tokens_left, state.steps) == ("budget", 250, 0, 5)
    result = await agent.reject()
    ignored, approved, _ = result.approvals
    assert ignored.ignored and "extend_tokens" in (ignored.reason or "")
    assert approved.extend_tokens == 100 and result.usage.billed_tokens == 250 and result.steps == 5


async def test_a_flood_of_ignored_signals_keeps_the_latest_and_counts_the_rest(rig: Rig) -> None:
    extra = 3
    agent = await start(rig, max_depth=100, token_budget=50)
    await agent.paused()
    for n in range(MAX_IGNORED_RECORDS + extra):  # a budget pause without extend_tokens: each one is ignored
        await agent.signal("approve", ApproveRequest(note=f"#{n}", approver="cli:noisy"))
    result = await agent.reject("quiet please")
    *ignored, decision = result.approvals
    assert [a.note for a in ignored] == [f"#{n}" for n in range(extra, MAX_IGNORED_RECORDS + extra)]
    assert all(a.ignored and "extend_tokens" in (a.reason or "") for a in ignored)
    assert result.ignored_signals_dropped == extra
    assert (decision.decision, decision.ignored, decision.reason) == ("reject", False, "quiet please")


async def test_sub_agents_stop_at_the_global_depth_and_only_the_root_pauses(rig: Rig) -> None:
    rig.stubs.agent = toolloop("spawn_subagent", {"task": "dig deeper"})
    agent = await start(rig, max_depth=3)
    state = await agent.paused()
    # Root, child and grandchild made one call each; the great-grandchild started at depth 3 and stopped at once.
    assert (state.depth, state.reason) == (3, "depth") and rig.stubs.model_calls.total() == 3
    assert set(rig.stubs.model_calls) == {"chat#1", "sub1.chat#1", "sub1.sub1.chat#1"}
    assert (await agent.attributes()).get(sa.AGENT_DEPTH) == 3  # the chain's depth, not the root's own calls
    child = rig.env.client.get_workflow_handle(f"{agent.id}-sub1", result_type=AgentResult)
    assert (await child.result()).stopped == "depth"
    assert {e.job_id for e in rig.stubs.events} == {agent.id}  # sub-agents report on the root's stream
    state = await agent.approve(extend_depth=2)
    assert (state.depth, state.max_depth) == (5, 5) and rig.stubs.model_calls.total() == 5
    result = await agent.reject()
    assert result.depth == 5 and (await agent.attributes()).get(sa.AGENT_DEPTH) == 5
    # The sub-agents' tokens are the job's: every call was billed under a key that starts with the job id.
    assert all(key.startswith(f"{agent.id}") for key in rig.stubs.billed) and len(rig.stubs.billed) == 5
    assert result.usage.billed_tokens == sum(rig.stubs.billed.values()) == 5 * 50


async def test_a_sub_agent_gets_a_slice_of_the_remaining_budget_and_stops_at_it(rig: Rig) -> None:
    rig.stubs.agent = toolloop("spawn_subagent", {"task": "dig deeper"})
    agent = await start(rig, max_depth=1000, token_budget=500)
    state = await agent.paused()
    child = await rig.env.client.get_workflow_handle(f"{agent.id}-sub1", result_type=AgentResult).result()
    assert child.outcome is Outcome.STOPPED and child.stopped == "budget"
    assert 0 < child.usage.billed_tokens < 500 and state.reason == "budget"
    first = rig.stubs.inputs("agent_chat")[1]  # the child's first call
    assert first.step == "sub1.chat#1"
    assert 500 <= state.tokens_used < 500 + 50 and state.tokens_used == sum(rig.stubs.billed.values())
    await agent.reject()


async def test_answer_question_runs_a_child_whose_tokens_count_against_the_budget_not_the_depth(rig: Rig) -> None:
    script = iter([toolloop("answer_question", {"question": "Who commissioned it?"}), answers("Amelia Hartwell.")])
    current = next(script)
    rig.stubs.agent = lambda req: (current if req.step == "chat#1" else next(script))(req)
    result = await (await start(rig, max_depth=5)).result()
    assert result.outcome is Outcome.ANSWERED and result.answer == "Amelia Hartwell." and result.depth == 2
    assert [c.step for c in rig.stubs.inputs("chat")] == ["generate_answer"]  # the child AnswerQuestion ran
    tool_message = rig.stubs.inputs("agent_chat")[1].append[0]
    body = json.loads(tool_message.content or "{}")
    assert body["answer"] == rig.stubs.answer and body["citations"] == ["zephyr.md@v1#0"]
    assert result.usage.billed_tokens == 2 * 50 + (8 + 50 + 50 + 80)


async def test_tools_are_offered_in_order_and_a_tool_result_reaches_the_next_step(rig: Rig) -> None:
    agent = await start(rig, max_depth=2)
    await agent.paused()
    first, second = rig.stubs.inputs("agent_chat")
    assert [t.name for t in first.tools] == [*BUILTIN_TOOLS, "shout"]
    assert [(m.role, m.content) for m in first.append] == [
        ("system", first.append[0].content),
        ("user", "Research the reactor"),
    ]
    [tool] = second.append
    assert tool.role == "tool" and tool.tool_call_id == "call-chat#1" and "AGAIN" in (tool.content or "")
    assert second.transcript_len == 3  # system, user and the assistant's call are committed; the result is appended
    assert rig.stubs.inputs("tool.shout")[0].step == "tool.shout#1"
    await agent.reject()


async def test_an_unknown_tool_or_bad_arguments_come_back_to_the_model_as_errors(rig: Rig) -> None:
    replies = {"chat#1": toolloop("no_such_tool"), "chat#2": toolloop("search_documents", {"top_k": 0})}
    rig.stubs.agent = lambda req: replies.get(req.step, answers("I give up."))(req)
    result = await (await start(rig)).result()
    assert result.outcome is Outcome.ANSWERED and result.tool_calls == 2
    errors = [json.loads(c.append[0].content or "{}")["error"] for c in rig.stubs.inputs("agent_chat")[1:]]
    assert "no tool named 'no_such_tool'" in errors[0] and "invalid arguments for search_documents" in errors[1]


async def test_an_agent_that_answers_closes_with_its_ledger(rig: Rig) -> None:
    rig.stubs.agent = answers("Forty-two.")
    agent = await start(rig)
    result = await agent.result()
    assert (result.outcome, result.answer, result.depth, result.steps) == (Outcome.ANSWERED, "Forty-two.", 1, 1)
    assert (await agent.attributes()).get(sa.TOKENS_USED) == 50
    [closing] = rig.stubs.finished
    assert closing.data["outcome"] == "answered" and closing.steps[0].usage.billed_tokens == 50


async def test_two_hundred_steps_continue_as_new_with_small_histories(rig: Rig) -> None:
    agent = await start(rig, max_depth=50, continue_every=20)
    await agent.paused()
    for steps in (100, 150, 200):
        assert (await agent.approve(extend_depth=50)).steps == steps
    description = await agent.latest.describe()
    assert description.raw_description.workflow_execution_info.first_run_id != description.run_id
    assert (await description.memo())["task"] == "Research the reactor"  # `pending` still lists it
    size = sum(e.ByteSize() for e in (await agent.latest.fetch_history()).events)
    assert size < HISTORY_LIMIT_BYTES, size
    result = await agent.reject("two hundred is plenty")
    assert (result.steps, result.tool_calls, result.depth, len(result.approvals)) == (200, 200, 200, 4)
    assert rig.stubs.model_calls.total() == 200


async def test_a_model_step_failing_five_times_dead_letters_the_agent(rig: Rig) -> None:
    rig.stubs.poison.add("chat#1")
    agent = await start(rig, max_depth=4)
    with pytest.raises(WorkflowFailureError) as caught:
        await agent.result()
    assert isinstance(caught.value.cause, ApplicationError) and caught.value.cause.type == "DeadLettered"
    [entry] = rig.stubs.dead_letters.values()
    assert (entry.step, entry.attempts, entry.error_type) == ("chat#1", 5, "Transient")
    assert entry.input == {"task": "Research the reactor", "max_depth": 4, **_defaults()}  # the request, for replay
    assert (await agent.attributes()).get(sa.DEAD_LETTERED) is True
    assert rig.stubs.events[-1].type is EventType.JOB_DEAD_LETTERED


def _defaults() -> dict[str, Any]:
    """The request's defaults as a dead letter keeps them (what `dlq replay` starts again)."""
    return AgentRequest(task="t").model_dump(mode="json", exclude_none=True, exclude={"task", "max_depth"})


EARLY = ApproveRequest(extend_depth=5, note="too early", approver="cli:early")


def assert_early_signal_audited(record: ApprovalRecord) -> None:
    """The early signal shows as ignored (not waiting), with who sent it and its note."""
    assert (record.decision, record.via, record.approver, record.note) == ("approve", "signal", "cli:early", EARLY.note)
    assert record.ignored and "not awaiting approval" in (record.reason or "")
    assert record.extend_depth is None  # audited, never applied


async def test_a_signal_before_the_first_workflow_task_is_audited_not_applied(rig: Rig) -> None:
    request = AgentRunInput(task="Loop", max_depth=1)
    agent = Agent(
        rig, await rig.start("AgentRun", request, AgentResult, start_signal="approve", start_signal_args=[EARLY])
    )
    state = await agent.paused()
    assert (state.depth, state.max_depth) == (1, 1)  # not a pre-approval: the limit is the request's
    result = await agent.reject("stop")
    early, decision = result.approvals
    assert_early_signal_audited(early)
    assert (result.outcome, decision.decision, decision.reason) == (Outcome.REJECTED, "reject", "stop")


async def test_a_signal_before_a_continued_runs_first_task_keeps_the_carried_audit_list(rig: Rig) -> None:
    # A continued run is a run started with `carry`: the signal lands on the carried state, next to its records.
    before = ApprovalRecord(
        decision="approve", approver="cli:before", via="update", extend_depth=1, at=datetime.now(UTC)
    )
    carry = AgentCarry(depth=2, max_depth=2, steps=2, approvals=[before], ignored_signals_dropped=4)
    request = AgentRunInput(task="Continue", max_depth=1, carry=carry)
    agent = Agent(
        rig, await rig.start("AgentRun", request, AgentResult, start_signal="approve", start_signal_args=[EARLY])
    )
    state = await agent.paused()
    assert (state.depth, state.max_depth, state.steps) == (2, 2, 2)  # the carried state, not the request's
    await agent.signal("reject", RejectRequest(reason="stop"))
    result = await agent.result()
    kept, early, decision = result.approvals
    assert kept.approver == "cli:before" and not kept.ignored
    assert_early_signal_audited(early)
    assert (decision.decision, decision.approver, decision.reason) == ("reject", "temporal-cli", "stop")
    assert result.ignored_signals_dropped == 4


async def test_updates_are_validated_and_answer_with_the_new_state(rig: Rig) -> None:
    # An update needs no timer, so it works here too (a closed run's refusal is the real server's: test_agent.py).
    agent = await start(rig, max_depth=1000, token_budget=50)
    await agent.paused()
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await agent.latest.execute_update("approve", ApproveRequest(extend_depth=2), result_type=AgentState)
    assert isinstance(refused.value.cause, ApplicationError) and "extend_tokens" in refused.value.cause.message
    after = await agent.latest.execute_update("approve", ApproveRequest(extend_tokens=60), result_type=AgentState)
    assert after.tokens_left == 60 and not after.awaiting_approval
    state = await agent.paused(2)
    assert (state.tokens_used, state.reason) == (150, "budget")  # 110 allowed: 100, then one more call
    rejected = await agent.latest.execute_update("reject", RejectRequest(reason="done"), result_type=AgentState)
    assert not rejected.awaiting_approval
    result = await agent.result()
    assert [(a.decision, a.via) for a in result.approvals] == [("approve", "update"), ("reject", "update")]
