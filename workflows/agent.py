"""AgentRun: chat with tools → run the calls → append the results → next step, behind the inference firewall.

The firewall (CONTRACTS.md, "Agent depth and budget"): depth counts the agent's own model calls along the chain
from the root job (sub-agents included); before a call, a run at `max_depth`, or with `tokens_used >= token_budget`,
stops. A sub-agent returns `{stopped, usage}` to its parent; the root pauses, durably, until a person approves or
rejects (update or signal), or the approval timeout rejects it. History stays bounded: the transcript lives in Redis
and the run continues-as-new every `continue_every` steps with compact state.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.retry import DEFAULT_STEP_DEADLINE_S, inference_activity_options
    from schemas import queues
    from schemas import search_attributes as sa
    from schemas.agent import (
        AgentCarry,
        AgentChatRequest,
        AgentChatResult,
        AgentMemo,
        AgentRequest,
        AgentResult,
        AgentRunInput,
        ApprovalRecord,
        ChildScope,
        Outcome,
        PauseReason,
        ToolBinding,
    )
    from schemas.answer import StepUsage
    from schemas.dlq import FinishedJob
    from schemas.events import EventType
    from schemas.inference import ChatMessage
    from schemas.usage import by_model
    from workflows.agent_approvals import ApprovalGate
    from workflows.agent_bookkeeping import (
        BOOKKEEPING,
        close_job,
        pending_question,
        publish,
        raise_depth,
        record_failure,
        step_summary,
    )
    from workflows.agent_tools import ToolRunner
    from workflows.ledger import seconds

TRANSCRIPT_GRACE_S = 7 * 24 * 3600  # the transcript outlives the longest approval wait by this much
SYSTEM_PROMPT = (
    "You are a careful agent. Use the tools when they help; each tool result arrives as JSON. "
    "When you can answer the task, answer in plain text without calling a tool."
)


def first_carry(req: AgentRequest, scope: ChildScope | None) -> AgentCarry:
    """A first run's state: limits from the request (or the parent's scope), the task; tools come in `begin()`."""
    return AgentCarry(
        depth=scope.depth if scope else 0,
        max_depth=scope.max_depth if scope else req.max_depth,
        token_budget=scope.token_budget if scope else req.token_budget,
        pending_messages=[
            ChatMessage(role="system", content=SYSTEM_PROMPT),
            ChatMessage(role="user", content=req.task),
        ],
    )


@workflow.defn(name="AgentRun")
class AgentRun(ApprovalGate):
    """A tool-calling agent whose depth and token budget pause it for human approval."""

    @workflow.init
    def __init__(self, run_input: AgentRunInput) -> None:
        # Signals, updates and queries can come before `run()` (signal-with-start, a continued run's first task):
        # they must see the state the run keeps, so it is built here, never replaced later.
        self.req, self.scope = run_input.request(), run_input.scope
        super().__init__(run_input.carry or first_carry(self.req, self.scope))

    @workflow.run
    async def run(self, run_input: AgentRunInput) -> AgentResult:
        """Steps until the model answers without tools, a sub-agent stops, or a person rejects."""
        req, scope = self.req, self.scope
        if run_input.carry is None:
            await self.begin()
        tools = ToolRunner(req, self.carry, scope, self.events_job_id, self.options)
        steps_this_run = 0
        try:
            while True:
                if steps_this_run >= req.continue_every:
                    await self.continue_as_new()
                if (limit := self.limit_reached()) is not None:
                    if scope is not None:
                        return self.result(Outcome.STOPPED, stopped=limit)
                    decision = await self.wait_for_approval(limit)
                    if decision.decision == "reject":
                        return await self.finish(Outcome.REJECTED, reason=decision.reason)
                    continue
                reply = await self.chat(tools)
                steps_this_run += 1
                if not reply.tool_calls:
                    return await self.finish(Outcome.ANSWERED, answer=reply.content)
                results = []
                for call in reply.tool_calls:
                    self.carry.tool_calls += 1
                    result = await tools.run(call, self.carry.tool_calls)
                    results.append(ChatMessage(role="tool", tool_call_id=call.id, content=result.content))
                self.carry.pending_messages = results
        except Exception as err:
            if scope is None:
                await record_failure(self.req, self.carry, err)
            raise

    async def begin(self) -> None:
        """The first run's start: the user tools into the state, the task into the memo."""
        self.carry.tools = await workflow.execute_local_activity(
            "agent_tool_catalog",
            self.req.tools,
            result_type=list[ToolBinding],
            start_to_close_timeout=BOOKKEEPING,
            summary="agent tools",
        )
        if self.scope is None:
            workflow.upsert_memo({"task": self.req.task[:200]})

    def limit_reached(self) -> PauseReason | None:
        """Which limit holds the next model call, if any (depth first)."""
        if self.carry.depth >= self.carry.max_depth:
            return PauseReason.DEPTH
        budget = self.carry.token_budget
        if budget is not None and self.carry.usage.billed_tokens >= budget:
            return PauseReason.BUDGET
        return None

    async def chat(self, tools: ToolRunner) -> AgentChatResult:
        """One model call with the tools offered; the transcript grows in Redis, only its length in history."""
        number = self.carry.steps + 1
        step = f"{self.scope.label if self.scope else ''}chat#{number}"
        request = AgentChatRequest(
            job_id=workflow.info().workflow_id,
            events_job_id=self.events_job_id,
            step=step,
            transcript_len=self.carry.transcript_len,
            append=self.carry.pending_messages,
            tools=tools.specs(),
            ttl_s=int(self.req.approval_timeout_s) + TRANSCRIPT_GRACE_S,
        )
        reply: AgentChatResult = await workflow.execute_activity(
            "agent_chat",
            request,
            result_type=AgentChatResult,
            task_queue=queues.sibling(workflow.info().task_queue, queues.INFERENCE),
            summary=f"{step} at depth {self.carry.depth + 1}",
            **self.options,
        )
        self.carry.steps = number
        raise_depth(self.carry, self.carry.depth + 1)
        self.carry.usage = self.carry.usage + reply.usage
        self.carry.ledger = by_model([*self.carry.ledger, reply.usage])
        self.carry.transcript_len = reply.transcript_len
        self.carry.pending_messages = []
        self.carry.last_summary = step_summary(number, reply)
        return reply

    async def wait_for_approval(self, reason: PauseReason) -> ApprovalRecord:
        """Pause: flag and memo for `pending`, publish `awaiting_approval`, wait for a decision or the timeout."""
        timeout = timedelta(seconds=self.req.approval_timeout_s)
        paused_at = workflow.now()
        self.pause, self.decision, self.deadline = reason, None, paused_at + timeout
        self.question = pending_question(self.req, self.carry, reason)
        memo = AgentMemo(
            task=self.req.task[:200],
            pause_reason=reason.value,
            pending_question=self.question,
            paused_at=paused_at.isoformat(),
            deadline=self.deadline.isoformat(),
            depth=self.carry.depth,
            max_depth=self.carry.max_depth,
            tokens_used=self.carry.usage.billed_tokens,
            token_budget=self.carry.token_budget or 0,
            ledger=self.carry.ledger,
            priced_usd=self.carry.priced_usd,
        )
        workflow.upsert_memo(memo.model_dump())
        workflow.upsert_search_attributes([sa.AWAITING_APPROVAL.value_set(True)])
        await self.publish(EventType.AWAITING_APPROVAL, self.state().model_dump(mode="json"))
        try:
            await workflow.wait_condition(lambda: self.decision is not None, timeout=timeout)
        except TimeoutError:
            self.record(
                ApprovalRecord(
                    decision="reject", approver="system", via="timeout", reason="approval timed out", at=workflow.now()
                )
            )
        decision = self.decision
        assert decision is not None
        self.pause, self.question, self.deadline = None, None, None
        workflow.upsert_search_attributes([sa.AWAITING_APPROVAL.value_set(False)])
        workflow.upsert_memo({"pause_reason": "", "pending_question": "", "paused_at": "", "deadline": ""})
        event = EventType.APPROVED if decision.decision == "approve" else EventType.REJECTED
        await self.publish(event, decision.model_dump(mode="json", exclude_none=True))
        return decision

    # --- bookkeeping

    async def continue_as_new(self) -> None:
        """Start a fresh run with compact state once every handler has finished (history stays bounded)."""
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(AgentRunInput(**self.req.model_dump(), scope=self.scope, carry=self.carry))

    def result(
        self,
        outcome: Outcome,
        answer: str = "",
        reason: str | None = None,
        stopped: PauseReason | None = None,
        priced: FinishedJob | None = None,
    ) -> AgentResult:
        """The run's result (the audit list included); a root job's ledger comes priced from its closing."""
        ledger = priced.steps if priced else [StepUsage(step="agent", usage=u) for u in self.carry.ledger]
        return AgentResult(
            outcome=outcome,
            answer=answer,
            reason=reason,
            approvals=self.carry.approvals,
            ignored_signals_dropped=self.carry.ignored_signals_dropped,
            usage=self.carry.usage,
            depth=self.carry.depth,
            stopped=stopped,
            steps=self.carry.steps,
            tool_calls=self.carry.tool_calls,
            cost_usd=priced.cost_usd if priced else self.carry.priced_usd,
            ledger=ledger,
        )

    async def finish(self, outcome: Outcome, answer: str = "", reason: str | None = None) -> AgentResult:
        """Close a root job (priced ledger, `TokensUsed`, `job.completed`); a sub-agent just returns its result."""
        priced = await close_job(self.carry, outcome, answer, reason) if self.scope is None else None
        return self.result(outcome, answer, reason, priced=priced)

    async def publish(self, event: EventType, data: dict[str, Any]) -> None:
        """One progress event on the root job's stream (a local activity: workflows cannot touch Redis)."""
        await publish(self.events_job_id, event, data)

    @property
    def events_job_id(self) -> str:
        """Whose event stream this run writes to: the root job's (sub-agents included)."""
        return self.scope.root_job_id if self.scope else workflow.info().workflow_id

    @property
    def options(self) -> dict[str, Any]:
        """Timeouts and retry policy of model-calling activities (the step deadline travels with the request)."""
        return inference_activity_options(seconds(self.req.step_deadline_s, DEFAULT_STEP_DEADLINE_S))
