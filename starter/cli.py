"""The `genai-flow` command line: one Typer app assembled from small command modules."""

from __future__ import annotations

import typer

from starter import cmd_answer, cmd_dlq, cmd_jobs, cmd_sim, cmd_stack

app = typer.Typer(
    name="genai-flow",
    help="Durable, event-driven GenAI pipelines on Temporal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Each module registers its own commands; component commands import their component lazily.
for module in (cmd_stack, cmd_sim, cmd_answer, cmd_jobs, cmd_dlq):
    module.register(app)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
