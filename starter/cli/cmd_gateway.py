"""`genai-flow gateway`: serve the HTTP API (FastAPI on uvicorn). Imports the gateway lazily, inside the command."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add `gateway`."""
    app.command("gateway")(gateway)


def gateway(
    host: Annotated[str | None, typer.Option(help="Bind address (default GENAI_FLOW_GATEWAY_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default GENAI_FLOW_GATEWAY_PORT).")] = None,
) -> None:
    """Serve the HTTP API: 202 + job id, status, SSE events, codec."""
    import uvicorn

    from gateway.app import create_app
    from gateway.auth import MIN_KEY_CHARS
    from runtime.heap import freeze_startup_heap
    from runtime.hosts import is_loopback
    from runtime.logging import get_logger
    from starter.cli.exit_codes import ExitCode
    from starter.cli.support import fail, settings_or_exit

    settings = settings_or_exit()
    settings = settings.model_copy(
        update={"gateway_host": host or settings.gateway_host, "gateway_port": port or settings.gateway_port}
    )
    log = get_logger("gateway")
    if not settings.api_keys:
        if not is_loopback(settings.gateway_host):
            raise fail(
                f"refusing to serve on {settings.gateway_host} without API keys: set GENAI_FLOW_API_KEYS "
                "(comma list) or bind to 127.0.0.1",
                ExitCode.USAGE,
            )
        log.warning("no API keys configured (GENAI_FLOW_API_KEYS): every local caller is trusted; loopback only")
    short = [key for key in settings.api_key_values if len(key) < MIN_KEY_CHARS]
    if short:
        message = (
            f"{len(short)} of GENAI_FLOW_API_KEYS shorter than {MIN_KEY_CHARS} characters (guessable); "
            'generate keys with: python -c "import secrets; print(secrets.token_urlsafe(32))"'
        )
        if not is_loopback(settings.gateway_host):
            raise fail(f"refusing to serve on {settings.gateway_host}: {message}", ExitCode.USAGE)
        log.warning(message + " (allowed on loopback only)")
    app = create_app(settings)
    freeze_startup_heap()
    uvicorn.run(
        app,
        host=settings.gateway_host,
        port=settings.gateway_port,
        log_level="warning",
        proxy_headers=False,
        timeout_graceful_shutdown=5,
    )
