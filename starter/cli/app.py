"""The `genai-flow` command line: one Typer app assembled from small command modules.

It answers at once: `--help`, argument errors and shell completion import only Typer, pydantic and the command
modules, never temporalio, openai, redis, chromadb, fastapi, boto, pydantic-settings or rich (plain help instead of
rich's panels). Command modules import those inside the command functions; `tests/test_cli_imports.py` checks every
registered command. A command that runs imports only its own module: `status` loads nothing of `up`'s or `agent`'s.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Iterator, MutableMapping
from functools import cache
from typing import TYPE_CHECKING, Any

import typer
import typer.main
from typer.core import TyperGroup

if TYPE_CHECKING:
    from typer._click import Command  # Typer vendors Click: the base of TyperCommand and TyperGroup

# Every command, in the order `--help` lists them, and the module whose `register(app)` adds it. A module is
# imported only when one of its commands runs, is completed, or is listed by --help. tests/test_cli_imports.py
# checks that this table and the modules' registrations agree.
COMMANDS: dict[str, str] = {
    "up": "cmd_stack",
    "worker": "cmd_stack",
    "demo": "cmd_stack",
    "doctor": "cmd_doctor",
    "sim": "cmd_sim",
    "ask": "cmd_answer",
    "agent": "cmd_agent",
    "approve": "cmd_agent",
    "reject": "cmd_agent",
    "pending": "cmd_agent",
    "status": "cmd_jobs",
    "result": "cmd_jobs",
    "cancel": "cmd_jobs",
    "jobs": "cmd_jobs",
    "ingest": "cmd_ingest",
    "gateway": "cmd_gateway",
    "stats": "cmd_stats",
    "dlq": "cmd_dlq",
    "events": "cmd_events",
}


@cache
def commands_of(module: str) -> dict[str, Command]:
    """The Click commands that one command module registers, built on a Typer app of their own."""
    own = typer.Typer(rich_markup_mode=None, pretty_exceptions_enable=False, add_completion=False)
    importlib.import_module(f"{__package__}.{module}").register(own)
    return dict(typer.main.get_group(own).commands)


class LazyCommands(MutableMapping[str, "Command"]):
    """The root group's commands by name: every name known up front, each built from its module at first use."""

    def __init__(self) -> None:
        self._names = list(COMMANDS)
        self._built: dict[str, Command] = {}

    def __getitem__(self, name: str) -> Command:
        if name not in self._names:
            raise KeyError(name)
        if name not in self._built:
            self._built.update(commands_of(COMMANDS[name]))
        return self._built[name]

    def __setitem__(self, name: str, command: Command) -> None:
        if name not in self._names:
            self._names.append(name)
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        self._names.remove(name)
        self._built.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


class LazyGroup(TyperGroup):
    """The root group, whose commands are LazyCommands instead of all built in advance (~0.02 s saved per run)."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = LazyCommands()


app = typer.Typer(
    name="genai-flow",
    cls=LazyGroup,
    help="Durable, event-driven GenAI pipelines on Temporal.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (docs/cli.md)
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: rich's help panels alone cost more than the whole import budget
)


@app.callback()
def root() -> None:
    """No options of its own: a callback makes Typer build the root as a group (LazyGroup) with no command added."""


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
