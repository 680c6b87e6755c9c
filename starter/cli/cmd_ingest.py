"""`genai-flow ingest PATH|s3://bucket/prefix`: one IngestDocument job per document, optionally waiting for all."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from schemas.defaults import DEFAULT_COLLECTION

if TYPE_CHECKING:
    from starter.ingest_paths import IngestReport, IngestStarted


def register(app: typer.Typer) -> None:
    """Add `ingest`."""
    app.command("ingest")(ingest)


def ingest(
    target: Annotated[str, typer.Argument(help="A file, a folder (recursively) or s3://bucket/prefix.")],
    collection: Annotated[
        str | None,
        typer.Option(help=f"Vector collection (default: GENAI_FLOW_INGEST_COLLECTION, else `{DEFAULT_COLLECTION}`)."),
    ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for every job; show progress and a summary.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the HTTP API's JSON shapes.")] = False,
) -> None:
    """Ingest documents (txt, md, rst, html, pdf): extract, chunk, embed and index each, durably."""
    # Everything heavy is imported here, so `genai-flow --help` stays fast.
    from pydantic import ValidationError

    from runtime.objectstore import ObjectNotFoundError, ObjectStoreError
    from schemas.ingest import IngestRequest
    from starter.cli.exit_codes import ExitCode
    from starter.cli.support import brief, fail, print_model, run, settings_or_exit

    collection = collection or settings_or_exit().ingest_collection
    try:
        IngestRequest(uri=target, version="-", collection=collection)
    except ValidationError as err:
        raise fail(brief(err), ExitCode.USAGE) from None

    async def body() -> tuple[IngestStarted, IngestReport | None]:
        from starter.client import GenAIFlowClient
        from starter.ingest_paths import start_all, wait_all

        client = await GenAIFlowClient.connect()
        started = await start_all(client, target, collection)
        if not wait:
            return started, None
        if as_json:
            return started, await wait_all(client, started)
        return started, await _wait_with_progress(client, started)

    try:
        started, report = run(body)
    except ObjectNotFoundError as err:
        raise fail(str(err), ExitCode.USAGE) from None
    except ObjectStoreError as err:
        raise fail(f"cannot read {target}: {err}", ExitCode.UNREACHABLE) from None
    if report is None:
        if as_json:
            print_model(started, True)
        else:
            _print_started(started)
        return
    if as_json:
        print_model(report, True)
    else:
        _print_report(started, report)
    raise typer.Exit(int(_exit_code(report)))


async def _wait_with_progress(client: object, started: IngestStarted) -> IngestReport:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from starter.cli.support import rich_console
    from starter.client import GenAIFlowClient
    from starter.ingest_paths import wait_all

    assert isinstance(client, GenAIFlowClient)
    columns = (TextColumn("ingesting"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=rich_console(), transient=True) as progress:
        task = progress.add_task("ingest", total=len(started.jobs))
        return await wait_all(client, started, lambda done, total: progress.update(task, completed=done, total=total))


def _print_started(started: IngestStarted) -> None:
    from rich.markup import escape

    from starter.cli.support import console

    for job in started.jobs:
        note = " (unchanged)" if job.unchanged else " (duplicate)" if job.duplicate else ""
        console.print(f"{escape(job.uri)} → [bold]{job.job_id}[/bold]{note}")
    for skipped in started.ignored:
        console.print(f"[dim]ignored {escape(skipped.path)}: {escape(skipped.reason)}[/dim]")
    console.print(f"{len(started.jobs)} job(s) started or found, {len(started.ignored)} ignored")


def _print_report(started: IngestStarted, report: IngestReport) -> None:
    from rich.markup import escape
    from rich.table import Table

    from starter.cli.support import console, err_console
    from starter.cli.textfit import shorten, whole_column
    from starter.ingest_paths import outcome_of

    table = Table(whole_column("document"), "outcome", "chunks", whole_column("job"), "reason")
    styles = {"indexed": "green", "removed": "green", "unchanged": "dim", "dead_lettered": "red", "failed": "red"}
    for job, info in zip(started.jobs, report.jobs, strict=True):
        outcome = outcome_of(job, info)
        result = info.result or {}
        reason = info.error.message if info.error else str(result.get("reason", ""))
        table.add_row(
            escape(job.uri.rsplit("/", 1)[-1] if "/" in job.uri else job.uri),
            f"[{styles.get(outcome, 'yellow')}]{outcome}[/]",
            str(result.get("chunks", "")),
            job.job_id,
            escape(shorten(reason)),
        )
    for skipped in report.ignored:
        table.add_row(escape(skipped.path), "[dim]ignored[/dim]", "", "", escape(skipped.reason))
    console.print(table)
    s = report.summary
    empty = f" · empty {s.empty}" if s.empty else ""
    console.print(
        f"indexed {s.indexed}{empty} · unchanged {s.unchanged} · failed {s.failed} · ignored {len(report.ignored)}"
    )
    if s.empty:
        names = [job.uri.rsplit("/", 1)[-1] for job, info in zip(started.jobs, report.jobs, strict=True)
                 if outcome_of(job, info) == "empty"]  # fmt: skip
        err_console.print(f"warning: {s.empty} document(s) had no text to index: {escape(', '.join(names))}")


def _exit_code(report: IngestReport) -> int:
    from schemas.jobs import JobStatus
    from starter.cli.exit_codes import ExitCode

    statuses = {info.status for info in report.jobs}
    if JobStatus.DEAD_LETTERED in statuses:
        return int(ExitCode.DEAD_LETTERED)
    if JobStatus.FAILED in statuses:
        return int(ExitCode.FAILED)
    return int(ExitCode.OK)
