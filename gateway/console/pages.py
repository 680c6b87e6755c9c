"""The console's pages (GET): jobs, a job, approvals, dead letters, the ask/upload forms, and their static files.

Every page reads through the same client calls and owner filter as the HTTP API, so a key sees only its own jobs.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from gateway.console.access import ConsoleUser, ConsoleUserDep
from gateway.console.render import STATIC, page
from gateway.console.views import approvals_from_events, job_view, step_events, temporal_ui_link
from gateway.console.waterfall import waterfall
from gateway.observability import gateway_reader
from gateway.problems import ProblemError
from gateway.routes_deadletters import dead_letters_of
from gateway.routes_jobs import JOB_ID, client_errors, owner_filter, started_body
from gateway.state import GatewayDep
from schemas.jobs import JobInfo, JobStatus, Pipeline
from starter.client import GenAIFlowClient

router = APIRouter(prefix="/ui", include_in_schema=False)
ConsoleJobId = Annotated[str, Path(pattern=JOB_ID)]
PROBLEMS = "problems"  # the one-click "failed / dead-lettered" view
AGES = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7)}
STATIC_FILES = {"console.css": "text/css", "console.js": "text/javascript"}
LIST_LIMIT = 100


def error_page(user: ConsoleUser | None, err: ProblemError) -> HTMLResponse:
    """A problem shown as a page (never raw JSON): what went wrong and where to go."""
    return page("error.html", user, http_status=err.status, status_code=err.status, detail=err.detail)


@router.get("", include_in_schema=False)
async def console_root() -> RedirectResponse:
    """The console starts at its job list."""
    return RedirectResponse("/ui/jobs", status_code=303)


@router.get("/static/{name}")
async def static(name: str) -> Response:
    """The console's own CSS and JS (shipped in the package; nothing from a CDN)."""
    if name not in STATIC_FILES:
        return page("error.html", None, http_status=404, status_code=404, detail="no such file")
    return FileResponse(STATIC / name, media_type=STATIC_FILES[name], headers={"Cache-Control": "max-age=300"})


async def _jobs(gw: GatewayDep, user: ConsoleUser, status: str, pipeline: Pipeline | None) -> list[JobInfo]:
    flow = await gw.flow()
    owner = owner_filter(user.caller)
    async with client_errors():
        if status == PROBLEMS:
            parts = await asyncio.gather(
                *(flow.jobs(s, pipeline, LIST_LIMIT, owner) for s in (JobStatus.FAILED, JobStatus.DEAD_LETTERED))
            )
            found = sorted(
                (j for part in parts for j in part),
                key=lambda j: j.created_at or datetime.min.replace(tzinfo=UTC),
                reverse=True,
            )
            return found[:LIST_LIMIT]
        return await flow.jobs(JobStatus(status) if status else None, pipeline, LIST_LIMIT, owner)


@router.get("/jobs", response_class=HTMLResponse)
async def jobs_page(
    request: Request,
    gw: GatewayDep,
    user: ConsoleUserDep,
    status: Annotated[str, Query(max_length=40)] = "",
    pipeline: Annotated[str, Query(max_length=40)] = "",
    age: Annotated[str, Query(max_length=8)] = "",
    partial: bool = False,
) -> HTMLResponse:
    """Jobs of this key: filters (status, one-click failed/dead-lettered, pipeline, age), stats at the top."""
    statuses = [PROBLEMS, *(s.value for s in JobStatus)]
    if status and status not in statuses:
        return error_page(user, ProblemError(422, f"unknown status {status!r}"))
    try:
        chosen = Pipeline(pipeline) if pipeline else None
    except ValueError:
        return error_page(user, ProblemError(422, f"unknown pipeline {pipeline!r}"))
    try:
        jobs = await _jobs(gw, user, status, chosen)
    except ProblemError as err:
        return error_page(user, err)
    if age in AGES:
        since = datetime.now(UTC) - AGES[age]
        jobs = [j for j in jobs if j.created_at and j.created_at >= since]
    context: dict[str, Any] = {
        "jobs": jobs,
        "status": status,
        "pipeline": pipeline,
        "age": age,
        "now": datetime.now(UTC),
    }
    if partial:  # the live refresh of the table (console.js)
        return page("jobs_table.html", user, **context)
    reader = await gateway_reader(request.app)
    snapshot = await reader.cached(max_age_s=5.0, window_minutes=60)
    spend = sum(m.cost_usd for m in snapshot.models)
    return page(
        "jobs.html",
        user,
        **context,
        statuses=statuses,
        pipelines=[p.value for p in Pipeline],
        ages=list(AGES),
        stats=snapshot,
        spend=spend,
    )


async def _owned_status(flow: GenAIFlowClient, user: ConsoleUser, job_id: str) -> JobInfo | HTMLResponse:
    """The job as its owner (or an admin) sees it, or the error page that says why not."""
    try:
        async with client_errors():
            return await flow.status(job_id, with_steps=False, owner=owner_filter(user.caller))
    except ProblemError as err:
        return error_page(user, err)


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
async def job_page(job_id: ConsoleJobId, request: Request, gw: GatewayDep, user: ConsoleUserDep) -> HTMLResponse:
    """One job: waterfall, live answer, citations, entities, cost per step, approvals, Web UI link."""
    flow = await gw.flow()
    info = await _owned_status(flow, user, job_id)
    if isinstance(info, HTMLResponse):
        return info
    events = await step_events(gw, job_id)
    view = job_view(info)
    if not view.approvals:
        view.approvals = approvals_from_events(events)
    t0 = info.created_at or datetime.now(UTC)
    steps = await waterfall(flow.handle(job_id), flow.temporal.data_converter, events, t0, info.closed_at)
    live = None if info.status.closed else started_body(gw, request, user.caller, job_id, False).events_url
    return page(
        "job.html",
        user,
        view=view,
        info=info,
        waterfall=steps,
        events_url=live,
        web_ui=temporal_ui_link(gw, job_id),
    )


@router.get("/jobs/{job_id}/result.json")
async def job_result(job_id: ConsoleJobId, gw: GatewayDep, user: ConsoleUserDep) -> Response:
    """The job's whole result (or error) as a download: what the page shows cut to its bounds."""
    flow = await gw.flow()
    info = await _owned_status(flow, user, job_id)
    if isinstance(info, HTMLResponse):
        return info
    body = json.dumps(info.model_dump(mode="json", include={"job_id", "status", "result", "error", "usage"}))
    return Response(
        body,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{job_id}.json"'},
    )


@router.get("/approvals", response_class=HTMLResponse)
async def approvals_page(gw: GatewayDep, user: ConsoleUserDep, done: str = "") -> HTMLResponse:
    """Paused agents of this key: question, depth, spend, waiting time; approve or reject in one click."""
    flow = await gw.flow()
    try:
        async with client_errors():
            pending = await flow.pending(owner=owner_filter(user.caller))
    except ProblemError as err:
        return error_page(user, err)
    return page("approvals.html", user, pending=pending, now=datetime.now(UTC), done=done[:300])


@router.get("/dead-letters", response_class=HTMLResponse)
async def dead_letters_page(gw: GatewayDep, user: ConsoleUserDep) -> HTMLResponse:
    """Dead-lettered jobs of this key: reason, step, attempts; replay with the original or an edited input."""
    try:
        rows = await dead_letters_of(gw, user.caller)
    except ProblemError as err:
        return error_page(user, err)
    return page("dead_letters.html", user, rows=rows, now=datetime.now(UTC))


@router.get("/new", response_class=HTMLResponse)
async def new_page(user: ConsoleUserDep, gw: GatewayDep) -> HTMLResponse:
    """Forms: ask a question, run an agent, upload a document."""
    return page("new.html", user, collection=gw.settings.ingest_collection, error=None, form={})
