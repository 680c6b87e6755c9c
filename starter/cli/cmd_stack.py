"""CLI commands that run the system: `up` (embedded stack), `worker`, `demo`."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Annotated, Any

import typer

from starter.cli.exit_codes import ExitCode
from starter.cli.support import fail, rich_console, settings_or_exit, unreachable_temporal

if TYPE_CHECKING:
    from rich.console import Console

    from runtime.settings import Settings

QUEUES_HELP = "Comma-separated task queues to serve (genai-workflows, genai-inference, genai-io)."


def _settings() -> Settings:
    from runtime.logging import configure_logging

    settings = settings_or_exit()
    configure_logging(settings)
    return settings


def up() -> None:
    """Run the embedded stack in the foreground (Temporal, Redis, Chroma, simulator, worker, gateway)."""
    from launcher.stack import run_up
    from runtime.processes import ServiceError

    console = rich_console()
    settings = _settings()
    try:
        code = run_up(settings, console)
    except ServiceError as err:
        raise fail(str(err), ExitCode.FAILED) from None
    raise typer.Exit(code)


def worker(queues: Annotated[str, typer.Option("--queues", help=QUEUES_HELP)] = "") -> None:
    """Run a Temporal worker: workflows on genai-workflows, activities on genai-inference / genai-io."""
    from workers.main import MetricsPortError, serve
    from workers.registry import ALL_QUEUES, NothingRegistered

    settings = _settings()
    chosen = [q.strip() for q in queues.split(",") if q.strip()] or list(ALL_QUEUES)
    unknown = sorted(set(chosen) - set(ALL_QUEUES))
    if unknown:
        raise fail(f"unknown queue(s) {', '.join(unknown)}; known: {', '.join(ALL_QUEUES)}", ExitCode.USAGE)
    try:
        code = asyncio.run(serve(settings, chosen))
    except (NothingRegistered, MetricsPortError) as err:
        raise fail(str(err), ExitCode.FAILED) from None
    except RuntimeError as err:
        if exit_ := unreachable_temporal(err):
            raise exit_ from None
        raise
    raise typer.Exit(code)


async def _until(interrupted: Any, work: Coroutine[Any, Any, int]) -> int:
    # The stack turns Ctrl-C into an event; cancel the demo's work when it is set.
    task = asyncio.create_task(work)
    while not task.done():
        if interrupted.is_set():
            task.cancel()
            return 130
        await asyncio.wait({task}, timeout=0.2)
    return task.result()


async def _pipelines(settings: Settings, console: Console) -> int:
    # A crashing pipeline is a failed demo (exit 1) with a one-line reason; the stack still stops cleanly.
    from starter.cli.demo import run_pipelines

    try:
        return await run_pipelines(settings, console)
    except Exception as err:
        console.print(f"[red]error:[/red] the demo failed: {type(err).__name__}: {err}")
        console.print(f"component logs: {settings.home / 'logs'}")
        return int(ExitCode.FAILED)


def demo() -> None:
    """Start the stack, run every pipeline that exists, print results and Web UI links, stop; exit with the result."""
    from launcher.plan import console_url, web_ui_url
    from launcher.stack import StackInterrupted, running_stack
    from runtime.processes import ServiceError

    console = rich_console()
    settings = _settings()
    try:
        with running_stack(settings, console) as stack:
            code = asyncio.run(_until(stack.interrupted, _pipelines(settings, console)))
            ui = web_ui_url(settings)
            if ui:
                console.print(f"Temporal Web UI (while a stack runs): {ui}")
            console.print(f"web console (while a stack runs): {console_url(settings)}")
    except StackInterrupted:
        code = 130
    except ServiceError as err:
        raise fail(str(err), ExitCode.FAILED) from None
    console.print(f"demo finished with exit code {code}")
    # `starter.cli.main` turns the exit into one without interpreter teardown (see there why).
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add `up`, `worker` and `demo` to the app."""
    app.command("up")(up)
    app.command("worker")(worker)
    app.command("demo")(demo)
