"""Jobs over HTTP: submit (202 + job id), list, status, cancel; errors mapped from the client's exceptions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response
from pydantic import BaseModel
from temporalio.service import RPCError

from gateway.auth import Caller, events_token
from gateway.metrics import JOBS_STARTED
from gateway.problems import ProblemError
from gateway.state import CallerDep, Gateway, GatewayDep
from schemas.answer import AnswerRequest
from schemas.gateway import CancelRequested, Problem
from schemas.jobs import JobInfo, JobStarted, JobStatus, Pipeline
from starter.client import (
    BadPageTokenError,
    IdempotencyConflictError,
    JobClosedError,
    JobForbiddenError,
    JobNotFoundError,
)

router = APIRouter(prefix="/v1", tags=["jobs"])

JOB_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$"
JobId = Annotated[str, Path(pattern=JOB_ID, description="The job id (the workflow id)")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Same key + same body: the same job; same key + different body: 409.",
    ),
]

ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": Problem, "description": why}
    for code, why in {
        400: "malformed request (e.g. a page token this server did not hand out)",
        401: "missing or unknown API key",
        403: "the job belongs to another API key",
        404: "no such job",
        409: "conflict (Idempotency-Key reused with another body, or the job is closed)",
        413: "body too large",
        422: "invalid request",
        429: "rate limit exceeded (see Retry-After)",
        503: "Temporal unreachable",
    }.items()
}


@asynccontextmanager
async def client_errors() -> AsyncIterator[None]:
    """Turn the client's exceptions into problem responses."""
    try:
        yield
    except JobNotFoundError as err:
        raise ProblemError(404, f"no job {err}") from None
    except JobForbiddenError as err:
        raise ProblemError(403, str(err)) from None
    except (IdempotencyConflictError, JobClosedError) as err:
        raise ProblemError(409, str(err)) from None
    except BadPageTokenError as err:
        raise ProblemError(400, str(err)) from None
    except RPCError as err:
        raise ProblemError(503, f"Temporal call failed: {err.message}", {"Retry-After": "5"}) from None


def base_url(gw: Gateway, request: Request) -> str:
    """Where clients reach this gateway: GENAI_FLOW_PUBLIC_URL, else the URL this request came to."""
    return (gw.settings.public_url or str(request.base_url)).rstrip("/")


def started_body(gw: Gateway, request: Request, caller: Caller, job_id: str, duplicate: bool) -> JobStarted:
    """The 202 body: status URL and an events URL carrying a short-lived signed token (for EventSource)."""
    base = f"{base_url(gw, request)}/v1/jobs/{job_id}"
    token = events_token(gw.events_signer, caller, job_id, gw.settings.event_token_ttl_s)
    return JobStarted(job_id=job_id, status_url=base, events_url=f"{base}/events?token={token}", duplicate=duplicate)


async def submit(
    gw: Gateway,
    request: Request,
    response: Response,
    caller: Caller,
    pipeline: Pipeline,
    body: BaseModel,
    idempotency_key: str | None,
) -> JobStarted:
    """Start a job for the caller: 202 + Location, or 200 with the existing job for a repeated Idempotency-Key."""
    flow = await gw.flow()
    async with client_errors():
        started = await flow.start(pipeline, body, idempotency_key=idempotency_key, owner=caller.key_id)
    JOBS_STARTED.labels(pipeline.value, str(started.duplicate).lower()).inc()
    out = started_body(gw, request, caller, started.job_id, started.duplicate)
    response.status_code = 200 if started.duplicate else 202
    response.headers["Location"] = out.status_url
    return out


@router.post("/answers", status_code=202, response_model=JobStarted, responses=ERRORS)
async def post_answer(
    body: AnswerRequest,
    request: Request,
    response: Response,
    gw: GatewayDep,
    caller: CallerDep,
    idempotency_key: IdempotencyKey = None,
) -> JobStarted:
    """Answer a question from a collection (AnswerQuestion); 202 at once, progress over SSE."""
    return await submit(gw, request, response, caller, Pipeline.ANSWER, body, idempotency_key)


def owner_filter(caller: Caller) -> str | None:
    """The owner a caller's job queries are limited to (None: every owner, for admin keys and the local user)."""
    return None if caller.sees_all else caller.key_id


@router.get("/jobs", response_model=list[JobInfo], responses=ERRORS)
async def list_jobs(
    response: Response,
    gw: GatewayDep,
    caller: CallerDep,
    status: JobStatus | None = None,
    pipeline: Pipeline | None = None,
    page_size: Annotated[int, Query(ge=1, le=1000)] = 50,
    page_token: Annotated[str | None, Query(max_length=4096, description="X-Next-Page-Token of the last page")] = None,
) -> list[JobInfo]:
    """This key's jobs from one visibility query; the next page's token is in the `X-Next-Page-Token` header."""
    flow = await gw.flow()
    async with client_errors():
        page = await flow.jobs_page(status, pipeline, owner_filter(caller), page_size, page_token)
    if page.next_page_token:
        response.headers["X-Next-Page-Token"] = page.next_page_token
    return page.jobs


@router.get("/jobs/{job_id}", response_model=JobInfo, responses=ERRORS)
async def get_job(job_id: JobId, gw: GatewayDep, caller: CallerDep) -> JobInfo:
    """A job's status, result or error, usage and steps."""
    flow = await gw.flow()
    async with client_errors():
        return await flow.status(job_id, owner=owner_filter(caller))


@router.delete("/jobs/{job_id}", status_code=202, response_model=CancelRequested, responses=ERRORS)
async def cancel_job(job_id: JobId, gw: GatewayDep, caller: CallerDep) -> CancelRequested:
    """Request cancellation; 409 when the job has already closed."""
    flow = await gw.flow()
    async with client_errors():
        await flow.cancel(job_id, owner=owner_filter(caller))
    return CancelRequested(job_id=job_id)
