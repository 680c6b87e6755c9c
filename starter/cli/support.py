"""Shared plumbing of CLI commands: run a coroutine with clean errors, print models, map statuses to exit codes.

Cheap to import on purpose: `genai-flow --help` and argument errors load this module, so rich, pydantic-settings
and the Temporal client are imported only when a command actually runs (`tests/test_cli_imports.py` guards it).
Command modules import from here at module level and keep their own heavy imports inside the command functions.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar, cast

import typer

from starter.cli.exit_codes import ExitCode

if TYPE_CHECKING:
    from pydantic import BaseModel
    from rich.console import Console

    from runtime.settings import Settings
    from schemas.jobs import JobInfo, JobStarted
    from starter.client import GenAIFlowClient

T = TypeVar("T")


@lru_cache(maxsize=2)
def rich_console(stderr: bool = False) -> Console:
    """The process's rich console for stdout (or stderr), created at first use."""
    from rich.console import Console

    return Console(stderr=stderr)


class _LazyConsole:
    """Stands in for a rich Console and creates the real one at first attribute access (rich costs ~0.1 s)."""

    def __init__(self, stderr: bool) -> None:
        self._stderr = stderr

    def __getattr__(self, name: str) -> Any:
        return getattr(rich_console(self._stderr), name)


# Module-level names command modules import; typed as Console so callers get rich's API checked.
console = cast("Console", _LazyConsole(stderr=False))
err_console = cast("Console", _LazyConsole(stderr=True))


def fail(message: str, code: ExitCode) -> typer.Exit:
    """Print an error to stderr and return the Exit to raise (plain text: messages may hold brackets)."""
    typer.secho("error:", fg="red", err=True, nl=False)
    typer.echo(f" {message}", err=True)
    return typer.Exit(int(code))


def brief(err: Exception) -> str:
    """One line naming each invalid field and why (a pydantic ValidationError), or the error's own message."""
    errors = getattr(err, "errors", None)
    if not callable(errors):
        return str(err)
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}" for e in errors())


def settings_or_exit() -> Settings:
    """The settings, or exit 2 with the message naming the bad variable."""
    from runtime.settings import SettingsError, get_settings

    try:
        return get_settings()
    except SettingsError as err:
        raise fail(str(err), ExitCode.USAGE) from None


def unreachable_temporal(err: RuntimeError) -> typer.Exit | None:
    """Exit 5 with a hint when err is the Temporal client's failed connect (reported as a RuntimeError)."""
    if "connect" not in str(err).lower():
        return None
    address = settings_or_exit().temporal_address
    return fail(f"cannot reach Temporal at {address} (is `genai-flow up` running?): {err}", ExitCode.UNREACHABLE)


def run(make: Callable[[], Awaitable[T]]) -> T:
    """Run an async CLI body; unreachable servers exit 5 and bad settings exit 2, without a traceback."""
    import asyncio

    from runtime.keyring import DecryptionError
    from starter.client import (
        IdempotencyConflictError,
        JobClosedError,
        JobNotFoundError,
        NotAwaitingApprovalError,
        UpdateNotTakenError,
    )

    settings_or_exit()
    try:
        return asyncio.run(make())  # type: ignore[arg-type]
    except JobNotFoundError as err:
        raise fail(f"no job with id {err.args[0]!r}", ExitCode.USAGE) from None
    except IdempotencyConflictError as err:
        raise fail(str(err), ExitCode.USAGE) from None
    except (JobClosedError, NotAwaitingApprovalError) as err:
        # The job's state does not allow it (CONTRACTS.md: exit 4, HTTP 409).
        raise fail(str(err), ExitCode.REJECTED) from None
    except UpdateNotTakenError as err:
        raise fail(str(err), ExitCode.UNREACHABLE) from None
    except DecryptionError as err:  # configuration: GENAI_FLOW_ENCRYPTION_KEYS lacks the key it names
        raise fail(f"cannot decrypt: {err}", ExitCode.USAGE) from None
    except (ConnectionError, OSError) as err:
        raise fail(f"cannot reach a server: {err}", ExitCode.UNREACHABLE) from None
    except RuntimeError as err:
        if exit_ := unreachable_temporal(err):
            raise exit_ from None
        raise


def print_model(model: BaseModel | list[BaseModel], as_json: bool) -> None:
    """Print a model (or a list) as JSON for scripts, or pretty for people."""
    if as_json:
        if isinstance(model, list):
            sys.stdout.write("[" + ",".join(m.model_dump_json() for m in model) + "]\n")
        else:
            sys.stdout.write(model.model_dump_json() + "\n")
    elif isinstance(model, list):
        for item in model:
            console.print(item.model_dump(mode="json", exclude_none=True))
    else:
        console.print(model.model_dump(mode="json", exclude_none=True))


def exit_code_for(info: JobInfo) -> ExitCode:
    """The CLI exit code for a job's status (CONTRACTS.md)."""
    from schemas.jobs import JobStatus

    if info.status is JobStatus.COMPLETED:
        return ExitCode.REJECTED if info.outcome == "rejected" else ExitCode.OK
    if info.status is JobStatus.DEAD_LETTERED:
        return ExitCode.DEAD_LETTERED
    if info.status is JobStatus.FAILED:
        return ExitCode.FAILED
    return ExitCode.OK


def start_and_report(
    start: Callable[[GenAIFlowClient], Awaitable[JobStarted]],
    wait: bool,
    as_json: bool,
    show: Callable[[JobInfo], None],
) -> None:
    """Start a job and print its ids; with --wait follow it live (quietly with --json), `show` it, exit by status."""

    async def body() -> tuple[JobStarted, JobInfo | None]:
        from starter.cli.progress import watch
        from starter.client import GenAIFlowClient

        client = await GenAIFlowClient.connect()
        started = await start(client)
        if not wait:
            return started, None
        if as_json:
            return started, await client.wait(started.job_id)
        console.print(f"[dim]job {started.job_id}[/dim]")
        return started, await watch(client, started.job_id, rich_console())  # rich's Live needs the real console

    started, info = run(body)
    if info is None:
        if as_json:
            print_model(started, True)
        else:
            console.print(f"started [bold]{started.job_id}[/bold]\n  status: {started.status_url}")
        return
    if as_json:
        print_model(info, True)
    else:
        show(info)
    raise typer.Exit(int(exit_code_for(info)))
