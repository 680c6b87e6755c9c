"""Agents over HTTP: start an AgentRun, decide a paused one (approver's key id recorded), list pending approvals."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from gateway.problems import ProblemError
from gateway.routes_jobs import ERRORS, IdempotencyKey, JobId, client_errors, owner_filter, submit
from gateway.state import CallerDep, GatewayDep
from schemas.agent import AgentRequest, AgentState, ApprovalBody, ApproveRequest, PendingApproval
from schemas.gateway import Problem
from schemas.jobs import JobStarted, Pipeline
from starter.client import NotAwaitingApprovalError, UpdateNotTakenError

router = APIRouter(prefix="/v1", tags=["agents"])

APPROVAL_ERRORS: dict[int | str, dict[str, object]] = {
    **ERRORS,
    409: {"model": Problem, "description": "the job is not awaiting approval (running, closed, or not an agent)"},
    504: {"model": Problem, "description": "no worker took the decision in time; nothing was decided"},
}


@router.post("/agents", status_code=202, response_model=JobStarted, responses=ERRORS)
async def post_agent(
    body: AgentRequest,
    request: Request,
    response: Response,
    gw: GatewayDep,
    caller: CallerDep,
    idempotency_key: IdempotencyKey = None,
) -> JobStarted:
    """Run a tool-calling agent (AgentRun) that pauses for approval at its depth or token limit."""
    return await submit(gw, request, response, caller, Pipeline.AGENT, body, idempotency_key)


@router.post("/jobs/{job_id}/approval", response_model=AgentState, responses=APPROVAL_ERRORS)
async def post_approval(job_id: JobId, body: ApprovalBody, gw: GatewayDep, caller: CallerDep) -> AgentState:
    """Approve (optionally extending depth or tokens) or reject a paused agent; the approver's key id is recorded."""
    if body.decision == "reject" and (body.extend_depth or body.extend_tokens):
        raise ProblemError(422, "a rejection takes no extend_depth or extend_tokens")
    if body.decision == "approve" and body.reason:
        raise ProblemError(422, "an approval takes a note, not a reason")
    flow = await gw.flow()
    async with client_errors():
        await flow.status(job_id, with_steps=False, owner=owner_filter(caller))  # 404 / 403 first
        try:
            if body.decision == "approve":
                approval = ApproveRequest(
                    extend_depth=body.extend_depth, extend_tokens=body.extend_tokens, note=body.note
                )
                return await flow.approve(job_id, approval, approver=caller.key_id)
            return await flow.reject(job_id, body.reason, approver=caller.key_id)
        except NotAwaitingApprovalError as err:
            raise ProblemError(409, str(err)) from None
        except UpdateNotTakenError as err:
            raise ProblemError(504, str(err)) from None


@router.get("/approvals", response_model=list[PendingApproval], responses=ERRORS)
async def list_approvals(gw: GatewayDep, caller: CallerDep) -> list[PendingApproval]:
    """This key's agents waiting for a decision, oldest pause first (visibility and memo: no worker needed)."""
    flow = await gw.flow()
    async with client_errors():
        return await flow.pending(owner=owner_filter(caller))
