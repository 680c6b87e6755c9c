"""`genai-flow agent`, `approve`, `reject`, `pending`: run an agent and decide on its pauses.

Only typer, the standard library and pydantic-free defaults at module level: every heavy import happens inside the
command (fast --help).
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Annotated

import typer

from schemas.defaults import DEFAULT_APPROVAL_TIMEOUT_S, DEFAULT_COLLECTION, DEFAULT_MAX_DEPTH
from starter.cli.durations import format_duration

if TYPE_CHECKING:
    from schemas.agent import AgentState, PendingApproval
    from schemas.jobs import JobInfo

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the HTTP API's JSON model.")]
JobArg = Annotated[str, typer.Argument(help="The agent's job id (the root job: approvals address it).")]


def register(app: typer.Typer) -> None:
    """Add agent, approve, reject and pending."""
    app.command("agent")(agent)
    app.command("approve")(approve)
    app.command("reject")(reject)
    app.command("pending")(pending)


def approver() -> str:
    """The CLI's identity in the audit list: `cli:<user>`, the owner of the jobs it starts (a trusted local user)."""
    from starter.client import local_owner

    return local_owner()


def agent(
    task: Annotated[str, typer.Argument(help="What the agent should do.")],
    max_depth: Annotated[int, typer.Option("--max-depth", help="Model calls before a pause.")] = DEFAULT_MAX_DEPTH,
    token_budget: Annotated[
        int | None, typer.Option("--token-budget", help="Billed tokens before a pause (default: none).")
    ] = None,
    approval_timeout: Annotated[
        str, typer.Option("--approval-timeout", help="How long a pause waits: 90, 90s, 5m, 2h, 1d.")
    ] = format_duration(DEFAULT_APPROVAL_TIMEOUT_S),
    collection: Annotated[
        str, typer.Option(help="Collection search_documents and answer_question read.")
    ] = DEFAULT_COLLECTION,
    wait: Annotated[bool, typer.Option("--wait", help="Follow steps and tool calls live; return at a pause.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Start an agent; with --wait, follow it until it answers, is rejected, or pauses for approval."""
    from schemas.agent import AgentRequest
    from starter.cli.durations import parse_duration
    from starter.cli.exit_codes import ExitCode
    from starter.cli.support import brief, fail, start_and_report

    try:
        request = AgentRequest(
            task=task,
            max_depth=max_depth,
            token_budget=token_budget,
            approval_timeout_s=parse_duration(approval_timeout),
            collection=collection,
        )
    except ValueError as err:  # a bad duration, or a ValidationError
        raise fail(brief(err), ExitCode.USAGE) from None

    start_and_report(lambda client: client.start_agent(request, owner=approver()), wait, as_json, print_outcome)


def print_outcome(info: JobInfo) -> None:
    """An agent's answer, rejection or pause (with the exact commands to decide it), for people."""
    from rich.markup import escape

    from schemas.jobs import JobStatus
    from starter.cli.support import console

    if info.status is JobStatus.AWAITING_APPROVAL:
        print_pause(info.job_id)
        return
    if info.result is None:
        console.print(f"[red]{info.status}[/red] {escape(info.error.message if info.error else '')}")
        return
    result = info.result
    if result.get("outcome") == "rejected":
        console.print(f"[yellow]rejected[/yellow]: {escape(str(result.get('reason') or ''))}")
    else:
        console.print(f"[bold]answer:[/bold] {escape(str(result.get('answer', '')))}")
    for decision in result.get("approvals", []):
        console.print(
            f"  [dim]{decision['at']} {decision['decision']} by {decision['approver']} via {decision['via']}"
            f"{' (ignored)' if decision.get('ignored') else ''} {escape(decision.get('note') or '')}[/dim]"
        )
    if dropped := result.get("ignored_signals_dropped"):
        console.print(f"  [dim]and {dropped} earlier ignored signals (counted, not listed)[/dim]")
    usage = result.get("usage", {})
    console.print(
        f"[dim]depth {result.get('depth')} · {result.get('steps')} model calls · {result.get('tool_calls')} tool calls"
        f" · {usage.get('billed_tokens', 0)} tokens billed · ${result.get('cost_usd', 0):.6f} · job {info.job_id}[/dim]"
    )


def print_pause(job_id: str) -> None:
    """What the paused agent asks, and the exact approve/reject commands (read from the memo: no worker needed)."""
    import asyncio

    from rich.markup import escape

    from starter.cli.support import console
    from starter.client import GenAIFlowClient

    async def row() -> PendingApproval | None:
        client = await GenAIFlowClient.connect()
        for _ in range(20):  # visibility may lag the pause by a moment
            found = next((p for p in await client.pending() if p.job_id == job_id), None)
            if found is not None:
                return found
            await asyncio.sleep(0.25)
        return None

    pending_row = asyncio.run(row())
    reason = pending_row.reason.value if pending_row and pending_row.reason else "depth"
    console.print(f"[yellow]awaiting approval[/yellow] ({reason} limit)")
    if pending_row is not None and pending_row.pending_question:
        console.print(f"  {escape(pending_row.pending_question)}")
        if pending_row.deadline:
            console.print(f"  [dim]rejected automatically at {pending_row.deadline.isoformat()}[/dim]")
    job = shlex.quote(job_id)
    extend = "--extend-tokens 1000" if reason == "budget" else "--extend-depth 1"
    console.print("to continue:  " + escape(f"genai-flow approve {job} {extend} --note 'ok'"), soft_wrap=True)
    console.print("to stop:      " + escape(f"genai-flow reject {job} --reason 'not needed'"), soft_wrap=True)


def approve(
    job: JobArg,
    extend_depth: Annotated[
        int | None, typer.Option("--extend-depth", help="More model calls (1 at a depth pause).")
    ] = None,
    extend_tokens: Annotated[
        int | None, typer.Option("--extend-tokens", help="More tokens (needed at a budget pause).")
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="Kept in the audit list.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Approve a paused agent: it resumes with the extended limits (exit 4 when it is not waiting)."""
    from pydantic import ValidationError

    from schemas.agent import ApproveRequest
    from starter.cli.exit_codes import ExitCode
    from starter.cli.support import brief, fail

    try:
        request = ApproveRequest(extend_depth=extend_depth, extend_tokens=extend_tokens, note=note)
    except ValidationError as err:
        raise fail(brief(err), ExitCode.USAGE) from None
    _decide(job, "approve", as_json, request=request)


def reject(
    job: JobArg,
    reason: Annotated[str | None, typer.Option("--reason", help="Why; kept in the result.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Reject a paused agent: it completes with outcome `rejected` (exit 4 when it is not waiting)."""
    _decide(job, "reject", as_json, reason=reason)


def _decide(job: str, decision: str, as_json: bool, **kwargs: object) -> None:
    from schemas.agent import ApproveRequest
    from starter.cli.support import console, print_model, run

    async def body() -> AgentState:
        from starter.client import GenAIFlowClient

        client = await GenAIFlowClient.connect()
        if decision == "approve":
            request = kwargs["request"]
            assert isinstance(request, ApproveRequest)
            return await client.approve(job, request, approver())
        reason = kwargs.get("reason")
        return await client.reject(job, reason if isinstance(reason, str) else None, approver())

    state = run(body)
    if as_json:
        print_model(state, True)
    elif decision == "approve":
        budget = f" · {state.tokens_left} tokens left" if state.tokens_left is not None else ""
        console.print(f"approved [bold]{job}[/bold]: depth {state.depth}/{state.max_depth}{budget}")
    else:
        console.print(f"rejected [bold]{job}[/bold]")


def pending(as_json: JsonOpt = False) -> None:
    """Agents waiting for approval (read from visibility and memo: works with no worker running)."""
    from rich.markup import escape
    from rich.table import Table

    from starter.cli.support import console, print_model, run
    from starter.cli.textfit import shorten, whole_column
    from starter.client import GenAIFlowClient

    async def body() -> list[PendingApproval]:
        return await (await GenAIFlowClient.connect()).pending()

    rows = run(body)
    if as_json:
        print_model(list(rows), True)
        return
    if not rows:
        console.print("no agent is waiting for approval")
        return
    table = Table(whole_column("job"), "reason", "depth", "tokens", "deadline", "question")
    for row in rows:
        tokens = f"{row.tokens_used}/{row.token_budget}" if row.token_budget else str(row.tokens_used)
        deadline = row.deadline.isoformat(timespec="seconds") if row.deadline else ""
        question = escape(shorten(row.pending_question or ""))
        reason = row.reason.value if row.reason else ""
        table.add_row(row.job_id, reason, f"{row.depth}/{row.max_depth}", tokens, deadline, question)
    console.print(table)
