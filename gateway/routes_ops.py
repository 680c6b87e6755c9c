"""Operational endpoints: liveness, readiness (Temporal and Redis reachable) and Prometheus metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from gateway.metrics import metrics_response
from gateway.observability import STATS, gateway_reader
from gateway.ops_access import OPS_ACCESS
from gateway.state import GatewayDep
from schemas.gateway import Health

router = APIRouter(tags=["operations"])

CHECK_TIMEOUT_S = 3.0


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process answers."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
async def readyz(gw: GatewayDep) -> JSONResponse:
    """Temporal and Redis answer; 503 naming what does not."""
    checks: dict[str, str] = {}
    try:
        flow = await asyncio.wait_for(gw.flow(), CHECK_TIMEOUT_S)
        await asyncio.wait_for(flow.temporal.service_client.check_health(), CHECK_TIMEOUT_S)
        checks["temporal"] = "ok"
    except Exception as err:  # any failure means "not ready"; the body says which
        checks["temporal"] = f"unavailable: {err}"
    try:
        await asyncio.wait_for(gw.redis.ping(), CHECK_TIMEOUT_S)
        checks["redis"] = "ok"
    except Exception as err:
        checks["redis"] = f"unavailable: {err}"
    ok = all(v == "ok" for v in checks.values())
    body = Health(status="ok" if ok else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get("/metrics", include_in_schema=False, dependencies=OPS_ACCESS)
async def metrics(request: Request) -> Response:
    """Prometheus exposition; the stats gauges are read just before (cached, so several scrapers cost one read)."""
    await STATS.refresh(lambda: gateway_reader(request.app))
    return await run_in_threadpool(metrics_response, request)
