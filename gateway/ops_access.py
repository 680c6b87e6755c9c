"""GENAI_FLOW_PROTECT_OPS: `/metrics`, `/docs` and `/openapi.json` need an API key (deployments; open on the dev stack).

`/metrics` shows every tenant's backlog, in-flight jobs and dead letters; the API description shows what is
deployed. Protected, they answer 401 like any other endpoint without a key (or a console session).
"""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from gateway.state import GatewayDep


async def ops_access(request: Request, gw: GatewayDep) -> None:
    """Authenticate the caller when GENAI_FLOW_PROTECT_OPS is on; nothing otherwise."""
    if gw.settings.protect_ops:
        from gateway.routes_codec import codec_caller  # bearer key or console session, as for /codec

        await codec_caller(request, gw)


OPS_ACCESS = [Depends(ops_access)]


def protect_docs(app: FastAPI) -> None:
    """Serve `/openapi.json` and `/docs` behind a key (the app was built with both turned off)."""

    async def openapi(_request: Request) -> JSONResponse:
        return JSONResponse(app.openapi())

    async def docs(_request: Request) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - docs")

    app.add_api_route("/openapi.json", openapi, dependencies=OPS_ACCESS, include_in_schema=False)
    app.add_api_route("/docs", docs, dependencies=OPS_ACCESS, include_in_schema=False)
