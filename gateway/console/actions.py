"""The console's forms (POST, each with its CSRF token): ask, run an agent, upload, approve/reject, replay.

Each goes through the same code as its HTTP twin (routes_jobs.submit, the client's approve/reject with the
signed-in key as approver, routes_deadletters.replay_for, routes_documents.upload_document); errors come back as
the form's page with the reason in it, never JSON.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, ValidationError

from gateway.console.access import ConsoleUser, ConsoleUserDep, check_csrf
from gateway.console.pages import ConsoleJobId, error_page
from gateway.console.render import page
from gateway.problems import ProblemError
from gateway.routes_agents import post_approval
from gateway.routes_deadletters import replay_for
from gateway.routes_documents import upload_document
from gateway.routes_jobs import submit
from gateway.state import Gateway, GatewayDep
from schemas.agent import AgentRequest, ApprovalBody
from schemas.answer import AnswerRequest
from schemas.dlq import ReplayBody
from schemas.jobs import Pipeline

router = APIRouter(prefix="/ui", include_in_schema=False)
UPLOAD_PATH = "/ui/upload"
Csrf = Annotated[str | None, Form()]
Text = Annotated[str, Form(max_length=20_000)]


def _invalid(err: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {e['msg']}" for e in err.errors())


def _form_error(gw: Gateway, user: ConsoleUser, status: int, message: str, form: dict[str, Any]) -> HTMLResponse:
    return page(
        "new.html", user, http_status=status, collection=gw.settings.ingest_collection, error=message, form=form
    )


async def _start(
    request: Request, gw: Gateway, user: ConsoleUser, pipeline: Pipeline, body: BaseModel, form: dict[str, Any]
) -> Response:
    try:
        started = await submit(gw, request, Response(), user.caller, pipeline, body, None)
    except ProblemError as err:
        return _form_error(gw, user, err.status, err.detail, form)
    return RedirectResponse(f"/ui/jobs/{started.job_id}", status_code=303)


@router.post("/ask")
async def ask(
    request: Request,
    gw: GatewayDep,
    user: ConsoleUserDep,
    question: Text = "",
    collection: Text = "",
    csrf: Csrf = None,
) -> Response:
    """Ask a question (AnswerQuestion), then watch its page."""
    check_csrf(gw, user, csrf)
    form = {"question": question, "collection": collection}
    try:
        body = AnswerRequest(question=question, collection=collection or gw.settings.ingest_collection)
    except ValidationError as err:
        return _form_error(gw, user, 422, _invalid(err), form)
    return await _start(request, gw, user, Pipeline.ANSWER, body, form)


@router.post("/agents")
async def run_agent(
    request: Request,
    gw: GatewayDep,
    user: ConsoleUserDep,
    task: Text = "",
    max_depth: Annotated[str, Form(max_length=12)] = "",
    csrf: Csrf = None,
) -> Response:
    """Run an agent that pauses for approval at its depth."""
    check_csrf(gw, user, csrf)
    form = {"task": task, "max_depth": max_depth}
    try:
        body = AgentRequest.model_validate({"task": task, **({"max_depth": max_depth} if max_depth else {})})
    except ValidationError as err:
        return _form_error(gw, user, 422, _invalid(err), form)
    return await _start(request, gw, user, Pipeline.AGENT, body, form)


@router.post("/upload")
async def upload(
    request: Request,
    gw: GatewayDep,
    user: ConsoleUserDep,
    file: Annotated[UploadFile | None, File()] = None,
    collection: Annotated[str, Form(max_length=200)] = "",
    csrf: Csrf = None,
) -> Response:
    """Upload a document for ingestion (the same limit and checks as POST /v1/documents)."""
    check_csrf(gw, user, csrf)
    if file is None or not file.filename:
        return _form_error(gw, user, 422, "choose a file to upload", {"upload_collection": collection})
    try:
        job = await upload_document(gw, request, user.caller, file.filename, await file.read(), collection or None)
    except ProblemError as err:
        return _form_error(gw, user, err.status, err.detail, {"upload_collection": collection})
    return RedirectResponse(f"/ui/jobs/{job.job_id}", status_code=303)


def _count(value: str, name: str) -> int | None:
    if not value.strip():
        return None
    if not value.strip().isdigit():
        raise ProblemError(422, f"{name} must be a whole number")
    return int(value)


@router.post("/approvals/{job_id}")
async def decide(
    job_id: ConsoleJobId,
    gw: GatewayDep,
    user: ConsoleUserDep,
    decision: Annotated[str, Form(max_length=10)] = "",
    extend_depth: Annotated[str, Form(max_length=12)] = "",
    extend_tokens: Annotated[str, Form(max_length=12)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    csrf: Csrf = None,
) -> Response:
    """Approve (extend depth/tokens, note) or reject (reason) a paused agent, recorded with the signed-in key."""
    check_csrf(gw, user, csrf)
    try:
        fields = {
            "decision": decision,
            "extend_depth": _count(extend_depth, "extend depth"),
            "extend_tokens": _count(extend_tokens, "extend tokens"),
            "note": note or None,
            "reason": reason or None,
        }
        try:
            body = ApprovalBody.model_validate(fields)
        except ValidationError as err:
            raise ProblemError(422, _invalid(err)) from None
        await post_approval(job_id, body, gw, user.caller)  # the HTTP API's own handler: same checks, same record
    except ProblemError as err:
        return error_page(user, err)
    done = f"{'approved' if decision == 'approve' else 'rejected'} {job_id}"
    return RedirectResponse(f"/ui/approvals?done={quote(done)}", status_code=303)


@router.post("/dead-letters/{job_id}/replay")
async def replay(
    job_id: ConsoleJobId,
    gw: GatewayDep,
    user: ConsoleUserDep,
    edited_input: Annotated[str, Form(max_length=200_000)] = "",
    csrf: Csrf = None,
) -> Response:
    """Replay a dead-lettered job with its original input, or the edited JSON input from the form."""
    check_csrf(gw, user, csrf)
    try:
        try:
            edited = json.loads(edited_input) if edited_input.strip() else None
        except ValueError as err:
            raise ProblemError(422, f"the edited input is not JSON: {err}") from None
        if edited is not None and not isinstance(edited, dict):
            raise ProblemError(422, "the edited input must be a JSON object")
        new_id = await replay_for(gw, user.caller, job_id, ReplayBody(input=edited))
    except ProblemError as err:
        return error_page(user, err)
    return RedirectResponse(f"/ui/jobs/{new_id}", status_code=303)
