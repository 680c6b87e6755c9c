"""`genai-flow dlq list|replay`: inspect dead-lettered jobs and run them again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from starter.cli.exit_codes import ExitCode
from starter.cli.support import console, fail, print_model, run

if TYPE_CHECKING:
    from schemas.jobs import JobStarted
    from starter.dlq import DeadLetterView

dlq_app = typer.Typer(help="Dead-lettered jobs: list them, replay them.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the `dlq` command group."""
    app.add_typer(dlq_app, name="dlq")


@dlq_app.command("list")
def list_cmd(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Dead-lettered jobs with the step, attempts and last error."""

    async def body() -> list[DeadLetterView]:
        # Imported here: the DLQ joins Redis details, which pulls in the activity-side key and store code.
        from starter.client import GenAIFlowClient
        from starter.dlq import list_dead_letters

        return await list_dead_letters(await GenAIFlowClient.connect())

    views = run(body)
    if as_json:
        print_model(list(views), True)
        return
    from rich.table import Table

    from starter.cli.textfit import shorten, whole_column

    table = Table(whole_column("job"), "pipeline", "step", "attempts", "error", "replayed as")
    for v in views:
        error = f"{v.error_type}: {shorten(v.last_error or '')}" if not v.details_missing else "(details expired)"
        table.add_row(v.job_id, v.pipeline or "", v.step or "", str(v.attempts or ""), error, ", ".join(v.replayed_as))
    console.print(table)


@dlq_app.command("replay")
def replay_cmd(
    job: Annotated[str, typer.Argument(help="The dead-lettered job id.")],
    input_file: Annotated[
        Path | None, typer.Option("--input", help="JSON file with an edited input (default: the original).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Start a new run linked to a dead-lettered job."""
    edited = _read_input(input_file) if input_file else None

    async def body() -> JobStarted:
        from starter.client import GenAIFlowClient
        from starter.dlq import ReplayError, replay

        try:
            return await replay(await GenAIFlowClient.connect(), job, edited)
        except ReplayError as err:
            raise fail(str(err), ExitCode.USAGE) from None

    started = run(body)
    if as_json:
        print_model(started, True)
    else:
        console.print(f"replayed {job} as [bold]{started.job_id}[/bold]")


def _read_input(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise fail(f"cannot read --input {path}: {err}", ExitCode.USAGE) from None
    if not isinstance(data, dict):
        raise fail(f"--input {path} must hold a JSON object", ExitCode.USAGE)
    return data
