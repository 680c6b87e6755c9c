"""The demo's agent: it pauses at its depth limit, the demo approves it once, and the answer is printed."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from schemas.agent import AgentRequest, ApproveRequest
from schemas.jobs import JobStatus
from starter.client import GenAIFlowClient

# Naming the tool makes the model (the simulator, too) search first and answer after the tool's result: two model
# calls, so a depth limit of 1 pauses the agent after its search.
TASK = "Use search_documents to find how a paused agent is approved, then answer in one sentence."


async def run_agent_demo(client: GenAIFlowClient, collection: str, console: Console) -> int:
    """Start the agent, show its pause, approve one more step, print the result; 0 when it answered."""
    started = await client.start_agent(AgentRequest(task=TASK, max_depth=1, collection=collection), owner="demo")
    job = started.job_id
    console.rule(f"agent {job}")
    info = await client.wait(job)
    if info.status is JobStatus.AWAITING_APPROVAL:
        pending = next((p for p in await client.pending() if p.job_id == job), None)
        question = pending.pending_question if pending else "(visibility has not caught up yet)"
        console.print(f"[yellow]paused at its depth limit[/yellow]: {escape(question or '')}")
        console.print(f"[dim]  genai-flow approve {job} --extend-depth 1   (the demo does this now)[/dim]")
        state = await client.approve(job, ApproveRequest(extend_depth=1, note="approved by the demo"), approver="demo")
        console.print(f"approved: depth {state.depth}/{state.max_depth}")
        info = await client.wait(job)
    elif info.status is JobStatus.COMPLETED:
        # A model without tool calling (SmolLM2-135M on the local backend) answers at its first call: one step, so
        # the depth limit is never reached. That is the model's doing, not a failure of the agent.
        console.print("[yellow]the model answered without calling a tool, so no depth limit was reached[/yellow]")
    while info.status is JobStatus.AWAITING_APPROVAL:  # a real model may want more steps than the simulator
        await client.approve(job, ApproveRequest(extend_depth=1, note="approved by the demo"), approver="demo")
        info = await client.wait(job)
    result = info.result or {}
    console.print(f"[bold]A:[/bold] {escape(str(result.get('answer', '')))}")
    for decision in result.get("approvals", []):
        console.print(
            f"  [dim]{decision['decision']} by {decision['approver']}: {escape(decision.get('note') or '')}[/dim]"
        )
    usage = result.get("usage", {})
    billed, cost = usage.get("billed_tokens", 0), result.get("cost_usd", 0)
    console.print(f"[dim]depth {result.get('depth')} · {billed} tokens billed · ${cost:.6f}[/dim]")
    return 0 if info.status is JobStatus.COMPLETED and result.get("outcome") == "answered" else 1
