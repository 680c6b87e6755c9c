"""CLI commands that inspect and control jobs: status, result, cancel, jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

# Typer reads option types when it builds the app, so these load with --help: the pydantic-free enum module.
from schemas.job_enums import JobStatus, Pipeline
from starter.cli.support import console, exit_code_for, print_model, run

if TYPE_CHECKING:
    from schemas.jobs import JobInfo
    from starter.client import GenAIFlowClient

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the HTTP API's JSON model.")]


def register(app: typer.Typer) -> None:
    """Add status, result, cancel and jobs."""
    app.command("status")(status)
    app.command("result")(result)
    app.command("cancel")(cancel)
    app.command("jobs")(jobs)


async def _client() -> GenAIFlowClient:
    from starter.client import GenAIFlowClient

    return await GenAIFlowClient.connect()


def status(job: Annotated[str, typer.Argument(help="Job id.")], as_json: JsonOpt = False) -> None:
    """Show a job's status, steps and usage (exit code follows the status)."""

    async def body() -> JobInfo:
        return await (await _client()).status(job)

    info = run(body)
    if as_json:
        print_model(info, True)
    else:
        _print_info(info)
    raise typer.Exit(int(exit_code_for(info)))


def result(
    job: Annotated[str, typer.Argument(help="Job id.")],
    as_json: JsonOpt = False,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the job to finish.")] = True,
) -> None:
    """Print a job's result, waiting for it by default."""

    async def body() -> JobInfo:
        client = await _client()
        return await (client.wait(job) if wait else client.status(job))

    info = run(body)
    if as_json:
        print_model(info, True)
    elif info.result is not None:
        console.print_json(data=info.result)
    else:
        _print_info(info)
    raise typer.Exit(int(exit_code_for(info)))


def cancel(job: Annotated[str, typer.Argument(help="Job id.")]) -> None:
    """Request cancellation of a running job."""

    async def body() -> None:
        await (await _client()).cancel(job)

    run(body)
    console.print(f"cancel requested for {job}")


def jobs(
    status: Annotated[JobStatus | None, typer.Option("--status", help="Only jobs with this status.")] = None,
    pipeline: Annotated[Pipeline | None, typer.Option("--pipeline", help="Only jobs of this pipeline.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List recent jobs."""

    async def body() -> list[JobInfo]:
        return await (await _client()).jobs(status=status, pipeline=pipeline, limit=limit)

    found = run(body)
    if as_json:
        print_model(list(found), True)
        return
    from rich.table import Table

    from starter.cli.textfit import whole_column

    table = Table(whole_column("job"), "pipeline", "status", "tokens", "created")
    for info in found:
        table.add_row(
            info.job_id, info.pipeline or "", info.status, str(info.usage.billed_tokens), str(info.created_at or "")
        )
    console.print(table)


def _print_info(info: JobInfo) -> None:
    from rich.markup import escape

    # Error messages and step summaries can quote model text: escape it, or rich reads brackets as markup.
    console.print(f"[bold]{info.job_id}[/bold]  {info.pipeline or ''}  status=[cyan]{info.status}[/cyan]")
    if info.error:
        console.print(f"  error: {info.error.kind} {info.error.type or ''}: {escape(info.error.message)}")
    for step in info.steps:
        console.print(f"  - {escape(step.name)}: {step.status} (attempt {step.attempts})")
    console.print(f"  tokens billed: {info.usage.billed_tokens}")
