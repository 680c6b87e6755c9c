"""Shared plumbing of CLI commands: run a coroutine with clean errors, print models, map statuses to exit codes."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console

from runtime.settings import Settings, SettingsError, get_settings
from schemas.jobs import JobInfo, JobStatus
from starter.exit_codes import ExitCode

T = TypeVar("T")

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: ExitCode) -> typer.Exit:
    """Print an error to stderr and return the Exit to raise."""
    err_console.print(f"[red]error:[/red] {message}")
    return typer.Exit(int(code))


def settings_or_exit() -> Settings:
    """The settings, or exit 2 with the message naming the bad variable."""
    try:
        return get_settings()
    except SettingsError as err:
        raise fail(str(err), ExitCode.USAGE) from None


def unreachable_temporal(err: RuntimeError) -> typer.Exit | None:
    """Exit 5 with a hint when err is the Temporal client's failed connect (reported as a RuntimeError)."""
    if "connect" not in str(err).lower():
        return None
    address = get_settings().temporal_address
    return fail(f"cannot reach Temporal at {address} (is `genai-flow up` running?): {err}", ExitCode.UNREACHABLE)


def run(make: Callable[[], Awaitable[T]]) -> T:
    """Run an async CLI body; unreachable servers exit 5 and bad settings exit 2, without a traceback."""
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
    if info.status is JobStatus.COMPLETED:
        return ExitCode.REJECTED if info.outcome == "rejected" else ExitCode.OK
    if info.status is JobStatus.DEAD_LETTERED:
        return ExitCode.DEAD_LETTERED
    if info.status is JobStatus.FAILED:
        return ExitCode.FAILED
    return ExitCode.OK
