"""The HTTP gateway: FastAPI app factory (`create_app`) wiring routes, auth, limits, CORS, metrics and errors.

It never waits for a model: a POST starts a workflow and answers 202 with the job id; results arrive over SSE.
Run it with `genai-flow gateway` (or `genai-flow up`); every endpoint, body and status code is in CONTRACTS.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from gateway import (
    console,
    openapi,
    problems,
    routes_agents,
    routes_codec,
    routes_deadletters,
    routes_documents,
    routes_events,
    routes_ingest,
    routes_jobs,
    routes_login,
    routes_ops,
)
from gateway.limits import BodySizeLimit
from gateway.metrics import HTTPMetrics
from gateway.observability import install_observability
from gateway.ops_access import protect_docs
from gateway.state import Gateway
from runtime.hosts import is_loopback
from runtime.settings import Settings, get_settings

EXPOSED_HEADERS = ["Location", "X-Next-Page-Token", "Retry-After"]


def cors_origins(settings: Settings) -> list[str]:
    """GENAI_FLOW_CORS_ORIGINS, plus the local Temporal Web UI (it calls `/codec/*` from the browser)."""
    origins = list(settings.cors_origins)
    host = settings.temporal_address.rsplit(":", 1)[0]
    if is_loopback(host):
        origins += [f"http://{name}:{settings.temporal_ui_port}" for name in ("127.0.0.1", "localhost")]
    return origins


def create_app(settings: Settings | None = None) -> FastAPI:
    """A gateway app for these settings (tests build several, each on its own settings)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        gw = Gateway(settings)
        app.state.gateway = gw
        try:
            yield
        finally:
            await gw.close()

    app = FastAPI(
        title="genai-flow gateway",
        version="1",
        description="Durable GenAI pipelines: 202 + job id at once, progress over Server-Sent Events.",
        lifespan=lifespan,
        # Spans come from install_observability (OTEL_TRACES_EXPORTER) and metrics from /metrics. FastAPI's own
        # OpenTelemetry bridge stands aside for those spans anyway, yet would probe three global providers per request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # GENAI_FLOW_PROTECT_OPS: the API description is served behind a key instead (protect_docs below).
        openapi_url=None if settings.protect_ops else "/openapi.json",
        docs_url=None if settings.protect_ops else "/docs",
        redoc_url=None if settings.protect_ops else "/redoc",
    )
    if settings.protect_ops:
        protect_docs(app)
    problems.install(app)
    openapi.install(app)
    routers = (
        routes_jobs.router,
        routes_events.router,
        routes_ingest.router,
        routes_agents.router,
        routes_codec.router,
        routes_ops.router,
        routes_login.router,
        routes_deadletters.router,
        routes_documents.router,
    )
    for router in routers:
        app.include_router(router)
    console.install(app)  # the web console's pages under /ui (sign-in is routes_login)
    # Starlette runs the last-added middleware first: metrics see every answer, 413 comes before any parsing.
    uploads = {routes_documents.PATH: settings.max_upload_bytes, console.UPLOAD_PATH: settings.max_upload_bytes}
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes, per_path=uploads)
    origins = cors_origins(settings)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        # The Web UI sends the console's session cookie to /codec; never with a wildcard origin list.
        allow_credentials="*" not in origins,
        allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID", "X-Namespace"],
        expose_headers=EXPOSED_HEADERS,
        max_age=600,
    )
    app.add_middleware(HTTPMetrics)
    install_observability(app, settings)  # backlog/approvals/DLQ gauges on /metrics; request spans when tracing
    return app
