"""`genai-flow stats [--json] [--watch]`: backlog, in-flight jobs, latency, tokens and cost, utilisation, HITL, DLQ."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from runtime.stats import StatsReader
    from schemas.stats import StatsSnapshot

# Heavy modules (temporalio, redis, rich, pydantic) are imported inside the command: `--help` stays fast.


def register(app: typer.Typer) -> None:
    """Add `stats`."""
    app.command("stats")(stats)


def stats(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the snapshot as JSON (schema: docs/observability.md).")
    ] = False,
    watch: Annotated[bool, typer.Option("--watch", help="Refresh until Ctrl-C (with --json: one line each).")] = False,
    window: Annotated[int, typer.Option("--window", min=1, max=2880, help="Minutes of latency/token history.")] = 15,
    interval: Annotated[float, typer.Option("--interval", min=0.5, help="Seconds between refreshes.")] = 2.0,
) -> None:
    """Queue backlog, in-flight jobs, p50/p95 latency, tokens and cost per model, worker utilisation, DLQ."""
    from starter.cli.support import run

    async def body() -> None:
        import asyncio

        from runtime.redis import redis_client
        from runtime.settings import get_settings
        from runtime.stats import StatsReader
        from runtime.temporal import connect

        settings = get_settings()
        redis = redis_client(settings)
        try:
            reader = StatsReader(await connect(settings), redis, settings)
            if not watch:
                _show(await reader.snapshot(window), as_json)
            elif as_json:
                while True:
                    _show(await reader.snapshot(window), True)
                    await asyncio.sleep(interval)
            else:
                await _live(reader, window, interval)
        finally:
            await redis.aclose()

    try:
        run(body)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


def _show(snapshot: StatsSnapshot, as_json: bool) -> None:
    from starter.cli.stats_view import render
    from starter.cli.support import console, print_model

    if as_json:
        print_model(snapshot, True)
    else:
        console.print(render(snapshot))


async def _live(reader: StatsReader, window: int, interval: float) -> None:
    import asyncio

    from rich.live import Live

    from starter.cli.stats_view import render
    from starter.cli.support import console

    with Live(render(await reader.snapshot(window)), console=console, screen=False, auto_refresh=False) as live:
        while True:
            await asyncio.sleep(interval)
            live.update(render(await reader.snapshot(window)), refresh=True)
