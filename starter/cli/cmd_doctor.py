"""`genai-flow doctor [--json]`: check every configured component and say what fixes each failure."""

from __future__ import annotations

from typing import Annotated

import typer

EXIT_HELP = "Exit 0 all good, 1 reachable but misconfigured, 2 invalid settings, 5 cannot reach something."


def register(app: typer.Typer) -> None:
    """Add `doctor`."""
    app.command("doctor", epilog=EXIT_HELP)(doctor)


def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON (schemas/doctor.py).")] = False,
) -> None:
    """Check Temporal (namespace, search attributes, workers), Redis, Chroma, the model, S3, keys and ports."""
    # The launcher is the one layer that knows every component; it imports them only now.
    from launcher.doctor import report_lines, run_doctor

    report = run_doctor()
    if as_json:
        typer.echo(report.model_dump_json())
    else:
        for line in report_lines(report):
            typer.secho(line, fg="red" if line.startswith("FAIL") else None)
        verdict = "all good" if report.exit_code == 0 else f"{len(report.failures)} problem(s) found"
        typer.echo(f"doctor: {verdict} (exit {report.exit_code})")
    raise typer.Exit(report.exit_code)
