"""CLI commands that run the system: `up` (embedded stack), `worker`, `demo`."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console

from starter.exit_codes import ExitCode

if TYPE_CHECKING:
    from runtime.settings import Settings

QUEUES_HELP = "Comma-separated task queues to serve (genai-workflows, genai-inference, genai-io)."


def _fail(console: Console, message: str, code: ExitCode) -> NoReturn:
    console.print(f"[red]error:[/red] {message}")
    _exit_now(int(code))


def _settings(console: Console) -> Settings:
    from runtime.logging import configure_logging
    from runtime.settings import SettingsError, get_settings

    try:
        settings = get_settings()
    except SettingsError as err:
        _fail(console, str(err), ExitCode.USAGE)
    configure_logging(settings)
    return settings


def up() -> None:
    """Run the embedded stack in the foreground (Temporal, Redis, Chroma, simulator, worker, gateway)."""
    from runtime.processes import ServiceError
    from runtime.stack import run_up

    console = Console()
    settings = _settings(console)
    try:
        code = run_up(settings, console)
    except ServiceError as err:
        _fail(console, str(err), ExitCode.FAILED)
    _exit_now(code)


def worker(queues: Annotated[str, typer.Option("--queues", help=QUEUES_HELP)] = "") -> None:
    """Run a Temporal worker: workflows on genai-workflows, activities on genai-inference / genai-io."""
    from workers.main import MetricsPortError, serve
    from workers.registry import ALL_QUEUES, NothingRegistered

    console = Console(stderr=True)
    settings = _settings(console)
    chosen = [q.strip() for q in queues.split(",") if q.strip()] or list(ALL_QUEUES)
    unknown = sorted(set(chosen) - set(ALL_QUEUES))
    if unknown:
        _fail(console, f"unknown queue(s) {', '.join(unknown)}; known: {', '.join(ALL_QUEUES)}", ExitCode.USAGE)
    try:
        code = asyncio.run(serve(settings, chosen))
    except (NothingRegistered, MetricsPortError) as err:
        _fail(console, str(err), ExitCode.FAILED)
    except RuntimeError as err:
        if "connect" in str(err).lower():  # the Temporal client reports a failed connect as a RuntimeError
            message = f"cannot reach Temporal at {settings.temporal_address} (is `genai-flow up` running?): {err}"
            _fail(console, message, ExitCode.UNREACHABLE)
        raise
    _exit_now(code)


def _exit_now(code: int) -> NoReturn:
    # `starter.cli.main` turns this into an exit without interpreter teardown (see there why).
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
    from starter.demo import run_pipelines

    try:
        return await run_pipelines(settings, console)
    except Exception as err:
        console.print(f"[red]error:[/red] the demo failed: {type(err).__name__}: {err}")
        console.print(f"component logs: {settings.home / 'logs'}")
        return int(ExitCode.FAILED)


def demo() -> None:
    """Start the stack, run every pipeline that exists, print results and Web UI links, stop; exit with the result."""
    from runtime.processes import ServiceError
    from runtime.stack import StackInterrupted, running_stack
    from runtime.stack_plan import web_ui_url

    console = Console()
    settings = _settings(console)
    try:
        with running_stack(settings, console) as stack:
            code = asyncio.run(_until(stack.interrupted, _pipelines(settings, console)))
            ui = web_ui_url(settings)
            if ui:
                console.print(f"Temporal Web UI (while a stack runs): {ui}")
    except StackInterrupted:
        code = 130
    except ServiceError as err:
        _fail(console, str(err), ExitCode.FAILED)
    console.print(f"demo finished with exit code {code}")
    _exit_now(code)


def register(app: typer.Typer) -> None:
    """Add `up`, `worker` and `demo` to the app."""
    app.command("up")(up)
    app.command("worker")(worker)
    app.command("demo")(demo)
