"""AgentRun's bookkeeping (deterministic workflow code): progress events, closing a job, dead letters, pause texts.

Workflows cannot touch Redis, so events, the priced ledger and dead-letter records go through local activities.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from schemas import search_attributes as sa
    from schemas.agent import AgentCarry, AgentChatResult, AgentRequest, Outcome, PauseReason
    from schemas.answer import StepUsage
    from schemas.dlq import FinishedJob, FinishJob
    from schemas.events import EventType, PublishEventInput
    from schemas.jobs import Pipeline
    from workflows.ledger import dead_lettered, gave_up, record_dead_letter

BOOKKEEPING = timedelta(seconds=10)
# Patch id: a sub-agent's return raises the parent's depth and its `AgentDepth` at once, not at the next model call.
DEPTH_FOLLOWS_SUBAGENTS = "agent-depth-follows-subagents"


def raise_depth(carry: AgentCarry, depth: int) -> None:
    """Move the chain's depth up to `depth`; every change goes through here so `AgentDepth` always equals it."""
    if depth <= carry.depth:
        return
    carry.depth = depth
    workflow.upsert_search_attributes([sa.AGENT_DEPTH.value_set(depth)])


async def publish(job_id: str, event: EventType, data: dict[str, Any]) -> None:
    """One progress event on a job's stream."""
    payload = PublishEventInput(job_id=job_id, type=event, data=data)
    await workflow.execute_local_activity(
        "publish_event", payload, start_to_close_timeout=BOOKKEEPING, summary=event.value
    )


async def close_job(carry: AgentCarry, outcome: Outcome, answer: str, reason: str | None) -> FinishedJob:
    """A root job's closing: `TokensUsed`, the outcome in the memo, the priced ledger and `job.completed`."""
    workflow.upsert_search_attributes([sa.TOKENS_USED.value_set(carry.usage.billed_tokens)])
    workflow.upsert_memo({"outcome": outcome.value})
    job = FinishJob(
        job_id=workflow.info().workflow_id,
        event=EventType.JOB_COMPLETED.value,
        # One row per model, so each is priced at its rate (children that closed their own job are not repeated).
        steps=[StepUsage(step="agent", usage=usage) for usage in carry.ledger],
        data={"outcome": outcome.value, "answer": answer[:200], "reason": reason},
        priced_usd=carry.priced_usd,
    )
    finished: FinishedJob = await workflow.execute_local_activity(
        "finish_job", job, result_type=FinishedJob, start_to_close_timeout=BOOKKEEPING, summary=outcome.value
    )
    return finished


async def record_failure(req: AgentRequest, carry: AgentCarry, err: BaseException) -> None:
    """A step that gave up dead-letters the job (so `dlq replay` can run it again, raising); others publish failure."""
    job_id = workflow.info().workflow_id
    verdict = gave_up(err)
    if verdict is None:
        cause = err.cause if isinstance(err, ActivityError) and err.cause else err
        await publish(job_id, EventType.JOB_FAILED, {"error": str(cause)})
        return
    step = f"chat#{carry.steps + 1}"
    entry = await record_dead_letter(Pipeline.AGENT, step, verdict, req)
    details = entry.model_dump(mode="json", include={"step", "attempts", "last_error"})
    await publish(job_id, EventType.JOB_DEAD_LETTERED, details)
    raise dead_lettered(entry) from err


def pending_question(req: AgentRequest, carry: AgentCarry, reason: PauseReason) -> str:
    """What the person is asked to decide at a pause."""
    if reason is PauseReason.DEPTH:
        ask = f"Depth limit reached ({carry.depth}/{carry.max_depth}): allow more model calls?"
    else:
        ask = f"Token budget spent ({carry.usage.billed_tokens}/{carry.token_budget}): allow more tokens?"
    task = req.task[:200].rstrip()
    end = "" if task.endswith((".", "!", "?")) else "."  # a task that ends a sentence gets no second period
    return f"{ask} Task: {task}{end} Last step: {carry.last_summary or 'none'}"


def step_summary(number: int, reply: AgentChatResult) -> str:
    """One line on what a step did, for the state query and the pending question."""
    if reply.tool_calls:
        calls = ", ".join(f"{c.name}({c.arguments[:60]})" for c in reply.tool_calls)
        return f"step {number} called {calls}"
    return f"step {number} answered: {reply.content[:120]}"
