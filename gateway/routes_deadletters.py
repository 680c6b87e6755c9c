"""Dead letters over HTTP: list this key's dead-lettered jobs, replay one as a linked new run (starter/dlq.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from gateway.auth import Caller
from gateway.problems import ProblemError
from gateway.routes_jobs import ERRORS, JobId, client_errors, owner_filter, started_body
from gateway.state import CallerDep, Gateway, GatewayDep
from schemas.dlq import DeadLetterRow, ReplayBody
from schemas.gateway import Problem
from schemas.jobs import JobStarted
from starter.dlq import DeadLetterView, NoDeadLetterError, ReplayError, list_dead_letters, replay

router = APIRouter(prefix="/v1", tags=["dead letters"])

REPLAY_ERRORS: dict[int | str, dict[str, object]] = {
    **ERRORS,
    409: {"model": Problem, "description": "the job has no dead letter to replay"},
    422: {"model": Problem, "description": "the edited input is not a valid request of the job's pipeline"},
}


def row_of(view: DeadLetterView) -> DeadLetterRow:
    """The HTTP shape of one dead letter."""
    reason = ": ".join(part for part in (view.error_type, view.last_error) if part) or None
    if view.details_missing:
        reason = "details expired from Redis"
    return DeadLetterRow(
        job_id=view.job_id,
        pipeline=view.pipeline,
        step=view.step,
        reason=reason,
        attempts=view.attempts,
        at=view.failed_at,
        replayed_as=view.replayed_as,
    )


async def dead_letters_of(gw: Gateway, caller: Caller) -> list[DeadLetterRow]:
    """The caller's dead letters, newest first (every owner's for admin keys and the local user)."""
    flow = await gw.flow()
    async with client_errors():
        views = await list_dead_letters(flow, owner=owner_filter(caller))
    rows = [row_of(v) for v in views]
    return sorted(rows, key=lambda r: r.at.timestamp() if r.at else 0.0, reverse=True)


async def replay_for(gw: Gateway, caller: Caller, job_id: str, body: ReplayBody) -> str:
    """Start the replay of the caller's dead-lettered job; the new job's id (403/404/409/422 as problems)."""
    flow = await gw.flow()
    async with client_errors():
        await flow.status(job_id, with_steps=False, owner=owner_filter(caller))  # 404 / 403 first
        try:
            started = await replay(flow, job_id, body.input, owner=caller.key_id)
        except NoDeadLetterError as err:
            raise ProblemError(409, str(err)) from None
        except ReplayError as err:
            raise ProblemError(422, str(err)) from None
    return started.job_id


@router.get("/dead-letters", response_model=list[DeadLetterRow], responses=ERRORS)
async def get_dead_letters(gw: GatewayDep, caller: CallerDep) -> list[DeadLetterRow]:
    """This key's dead-lettered jobs: step, reason, attempts, when, and the replays already started."""
    return await dead_letters_of(gw, caller)


@router.post("/dead-letters/{job_id}/replay", status_code=202, response_model=JobStarted, responses=REPLAY_ERRORS)
async def post_replay(
    job_id: JobId, body: ReplayBody, request: Request, response: Response, gw: GatewayDep, caller: CallerDep
) -> JobStarted:
    """Run a dead-lettered job again as a linked new run, with its original input or the edited `input`."""
    new_id = await replay_for(gw, caller, job_id, body)
    out = started_body(gw, request, caller, new_id, duplicate=False)
    response.headers["Location"] = out.status_url
    return out
