"""`genai-flow events sqs QUEUE_URL`: feed S3 event notifications from an SQS queue into ingestion."""

from __future__ import annotations

from typing import Annotated

import typer

events_app = typer.Typer(help="Event sources that start ingestion.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the `events` command group."""
    app.add_typer(events_app, name="events")


@events_app.command("sqs")
def sqs(
    queue_url: Annotated[str, typer.Argument(help="The SQS queue S3 (or SNS) sends object events to.")],
    collection: Annotated[
        str | None, typer.Option(help="Vector collection (default: GENAI_FLOW_INGEST_COLLECTION, `docs`).")
    ] = None,
    wait_s: Annotated[int, typer.Option("--wait-seconds", min=1, max=20, help="Long-poll wait per receive.")] = 20,
    max_polls: Annotated[int | None, typer.Option("--max-polls", min=1, help="Stop after this many receives.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON line per message.")] = False,
) -> None:
    """Long-poll the queue until Ctrl-C; a message is deleted only after its ingestion starts were accepted."""
    import sys

    from rich.markup import escape

    from starter.cli.support import console, run
    from starter.client import GenAIFlowClient
    from starter.sqs import SqsMessageResult, poll_sqs

    def show(result: SqsMessageResult) -> None:
        if as_json:
            sys.stdout.write(result.model_dump_json() + "\n")
            sys.stdout.flush()
            return
        if result.error:
            console.print(f"[red]kept[/red] {result.message_id}: {escape(result.error)}")
            return
        accepted = result.accepted
        for job in accepted.jobs if accepted else []:
            note = "unchanged" if job.unchanged else "duplicate" if job.duplicate else "started"
            console.print(f"{escape(job.uri)} → [bold]{job.job_id}[/bold] ({note})")
        for ignored in accepted.ignored if accepted else []:
            console.print(f"[dim]ignored {escape(ignored.key)}: {escape(ignored.reason)}[/dim]")

    async def body() -> int:
        client = await GenAIFlowClient.connect()
        if not as_json:
            console.print(f"[dim]polling {escape(queue_url)} (Ctrl-C stops)[/dim]")
        return await poll_sqs(client, queue_url, collection, wait_s=wait_s, max_polls=max_polls, on_message=show)

    try:
        deleted = run(body)
    except KeyboardInterrupt:
        return
    if not as_json:
        console.print(f"{deleted} message(s) handled and deleted")
