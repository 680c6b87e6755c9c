"""The `genai-flow` command line: one Typer app assembled from small command modules.

It answers at once: `--help`, argument errors and shell completion import only Typer, pydantic and the command
modules, never temporalio, openai, redis, chromadb, fastapi, boto, pydantic-settings or rich (plain help instead of
rich's panels). Command modules import those inside the command functions; `tests/test_cli_imports.py` checks every
registered command.
"""

from __future__ import annotations

import logging
import os
import sys

import typer

from starter.cli import (
    cmd_agent,
    cmd_answer,
    cmd_dlq,
    cmd_doctor,
    cmd_events,
    cmd_gateway,
    cmd_ingest,
    cmd_jobs,
    cmd_sim,
    cmd_stack,
    cmd_stats,
)

app = typer.Typer(
    name="genai-flow",
    help="Durable, event-driven GenAI pipelines on Temporal.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (docs/cli.md)
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: rich's help panels alone cost more than the whole import budget
)

# Each module registers its own commands; component commands import their component lazily.
for module in (
    cmd_stack,
    cmd_doctor,
    cmd_sim,
    cmd_answer,
    cmd_agent,
    cmd_jobs,
    cmd_dlq,
    cmd_ingest,
    cmd_events,
    cmd_gateway,
    cmd_stats,
):
    module.register(app)


def main() -> None:
    """Console-script entry point."""
    code: int | str | None = 0
    try:
        app()
    except SystemExit as exc:
        code = exc.code
    finally:
        # The Temporal client's native threads can outlive the event loop and abort the interpreter's teardown
        # ("PyGILState_Release ... finalizing", temporalio/sdk-python#300): flush and leave without it.
        from runtime.modules import module

        if (telemetry := sys.modules.get(module("runtime.telemetry"))) is not None:
            telemetry.shutdown_tracing()  # send the last spans: os._exit below skips every exit hook
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    os._exit(code or 0)


if __name__ == "__main__":
    main()
