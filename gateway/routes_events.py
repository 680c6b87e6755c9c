"""`GET /v1/jobs/{id}/events`: a job's progress as SSE, by bearer key or by the signed `?token=` of `events_url`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from sse_starlette import EventSourceResponse

from gateway.auth import Caller, check_events_token
from gateway.problems import ProblemError
from gateway.routes_jobs import ERRORS, JobId, client_errors, owner_filter
from gateway.sse import job_events, redis_answers
from gateway.state import GatewayDep, authenticated, rate_limited

router = APIRouter(prefix="/v1", tags=["events"])

# ASCII digits, at most 19 each: every such id fits Redis' 64-bit stream ids (20 digits can overflow them).
STREAM_ID = r"^[0-9]{1,19}-[0-9]{1,19}$"


@router.get(
    "/jobs/{job_id}/events",
    response_class=EventSourceResponse,
    responses={**ERRORS, 200: {"content": {"text/event-stream": {}}, "description": "the job's progress events"}},
)
async def job_event_stream(
    job_id: JobId,
    request: Request,
    gw: GatewayDep,
    token: Annotated[str | None, Query(max_length=512, description="signed token from `events_url`")] = None,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", pattern=STREAM_ID, description="resume after this event id")
    ] = None,
) -> EventSourceResponse:
    """Step, token and approval events, then one terminal event; the stream closes after it."""
    caller: Caller
    if token is not None:
        checked = check_events_token(gw.events_signer, gw.keys, token, job_id)
        if checked is None:
            raise ProblemError(
                401,
                "events token invalid or expired: take a fresh `events_url` from the job",
                {"WWW-Authenticate": "Bearer"},
            )
        # The owner's own request (the token was issued to its key): it counts against that key's rate limit, so a
        # browser's EventSource reconnecting in a loop is throttled like any other client of the key.
        await rate_limited(gw, checked)
        caller = checked
    else:
        caller = await authenticated(request, gw)
    flow = await gw.flow()
    async with client_errors():
        info = await flow.status(job_id, with_steps=False, owner=owner_filter(caller))
    if not await redis_answers(gw.stream_redis):
        reason = "progress events unavailable: Redis does not answer; retry shortly"
        raise ProblemError(503, reason, {"Retry-After": "2"})
    events = job_events(flow, gw.stream_redis, job_id, last_event_id or "0", info.status.closed, gw.keepalive_s)
    # X-Accel-Buffering: proxies such as nginx must not hold events back.
    return EventSourceResponse(events, ping=gw.keepalive_s, headers={"X-Accel-Buffering": "no"})
