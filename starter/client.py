"""The Python client of genai-flow: start jobs, follow them, read status and results, cancel, list."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from runtime.settings import Settings, get_settings
from runtime.temporal import connect
from schemas import queues
from schemas import search_attributes as sa
from schemas.agent import AgentMemo, AgentRequest, AgentState, ApproveRequest, PendingApproval, RejectRequest
from schemas.jobs import WORKFLOW_TYPES, JobInfo, JobStarted, JobStatus, Pipeline
from starter.status import job_info


class JobNotFoundError(LookupError):
    """No job with that id exists (or it is past retention)."""


class JobClosedError(RuntimeError):
    """The job has already closed, so it cannot be changed (cancelled, approved, ...)."""


class NotAwaitingApprovalError(RuntimeError):
    """An approve/reject for a job that is not waiting for one (running, closed, or not an agent): exit 4, HTTP 409."""


class UpdateNotTakenError(RuntimeError):
    """No worker took an update (approve/reject) in time: exit 5, HTTP 504. Nothing was decided."""


UPDATE_TIMEOUT_S = 15.0  # how long an approve/reject waits for a worker to take it


class IdempotencyConflictError(ValueError):
    """The Idempotency-Key was used before with a different request body."""


def request_digest(request: BaseModel) -> str:
    """A stable hash of a request body, to tell a retry from a different request under one key."""
    return hashlib.sha256(request.model_dump_json(exclude_none=True).encode()).hexdigest()


def job_id_for(pipeline: Pipeline, idempotency_key: str | None = None) -> str:
    """`<pipeline>-<hex>`: derived from the Idempotency-Key when given, else random."""
    if idempotency_key:
        return f"{pipeline.value}-{hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]}"
    return f"{pipeline.value}-{uuid.uuid4().hex}"


class GenAIFlowClient:
    """One object for everything a caller does with jobs; the CLI and the gateway are built on it."""

    def __init__(self, temporal: Client, settings: Settings | None = None) -> None:
        self.temporal = temporal
        self.settings = settings or get_settings()

    @classmethod
    async def connect(cls, settings: Settings | None = None) -> GenAIFlowClient:
        """Connect to Temporal with the project's data converter."""
        settings = settings or get_settings()
        return cls(await connect(settings), settings)

    def urls(self, job_id: str) -> tuple[str, str]:
        """The status and events URLs of a job on the gateway."""
        base = self.settings.gateway_url.rstrip("/")
        return f"{base}/v1/jobs/{job_id}", f"{base}/v1/jobs/{job_id}/events"

    async def start(
        self,
        pipeline: Pipeline,
        request: BaseModel,
        *,
        job_id: str | None = None,
        idempotency_key: str | None = None,
        owner: str | None = None,
        retry_failed: bool = False,
        replay_of: str | None = None,
    ) -> JobStarted:
        """Start a job; a repeated id returns the existing job marked `duplicate` (409-worthy if the body differs)."""
        derived = job_id is not None or idempotency_key is not None
        job_id = job_id or job_id_for(pipeline, idempotency_key)
        digest = request_digest(request)
        if getattr(request, "step_deadline_s", 0) is None:
            # Workflows cannot read settings: the deployment's step deadline travels with the request.
            request = request.model_copy(update={"step_deadline_s": self.settings.step_deadline_s})
        policy = WorkflowIDReusePolicy.ALLOW_DUPLICATE
        if derived:
            # A derived id names one request: never run it twice (unless a failed run may be retried).
            policy = (
                WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY
                if retry_failed
                else WorkflowIDReusePolicy.REJECT_DUPLICATE
            )
        duplicate = False
        try:
            await self.temporal.start_workflow(
                WORKFLOW_TYPES[pipeline],
                request,
                id=job_id,
                task_queue=queues.queue(queues.WORKFLOWS, self.settings.task_queue_prefix),
                id_reuse_policy=policy,
                memo={"request_sha256": digest, "owner": owner or "", "replay_of": replay_of or ""},
                search_attributes=TypedSearchAttributes([SearchAttributePair(sa.PIPELINE, pipeline.value)]),
                static_summary=f"{pipeline.value}: {_headline(request)}",
            )
        except WorkflowAlreadyStartedError:
            duplicate = True
            existing = await self.temporal.get_workflow_handle(job_id).describe()
            if (await existing.memo_value("request_sha256", "")) != digest:
                raise IdempotencyConflictError(f"job {job_id} was started with a different request") from None
        status_url, events_url = self.urls(job_id)
        return JobStarted(job_id=job_id, status_url=status_url, events_url=events_url, duplicate=duplicate)

    async def start_agent(
        self, request: AgentRequest, *, idempotency_key: str | None = None, owner: str | None = None
    ) -> JobStarted:
        """Start an AgentRun job (`agent-…`)."""
        return await self.start(Pipeline.AGENT, request, idempotency_key=idempotency_key, owner=owner)

    async def approve(
        self, job_id: str, approval: ApproveRequest, approver: str, timeout_s: float = UPDATE_TIMEOUT_S
    ) -> AgentState:
        """Approve a paused agent (update `approve`, approver recorded); returns its state right after the decision."""
        return await self._decide(job_id, "approve", approval.model_copy(update={"approver": approver}), timeout_s)

    async def reject(
        self, job_id: str, reason: str | None, approver: str, timeout_s: float = UPDATE_TIMEOUT_S
    ) -> AgentState:
        """Reject a paused agent (update `reject`): it completes with outcome `rejected` and the reason."""
        return await self._decide(job_id, "reject", RejectRequest(reason=reason, approver=approver), timeout_s)

    async def _decide(self, job_id: str, update: str, arg: BaseModel, timeout_s: float) -> AgentState:
        # Visibility answers with no worker running, so "not waiting" and "closed" are refused even then.
        info = await self.status(job_id, with_steps=False)
        if info.pipeline is not Pipeline.AGENT:
            raise NotAwaitingApprovalError(f"job {job_id} is not an agent job; only agents wait for approval")
        if info.status is not JobStatus.AWAITING_APPROVAL:
            raise NotAwaitingApprovalError(f"job {job_id} is not awaiting approval (it is {info.status.value})")
        try:
            state: AgentState = await self.handle(job_id).execute_update(
                update, arg, result_type=AgentState, rpc_timeout=timedelta(seconds=timeout_s)
            )
        except WorkflowUpdateFailedError as err:
            # The validator refused it (e.g. it resumed meanwhile, or a budget pause without extend_tokens).
            message = getattr(err.cause, "message", None) or str(err.cause or err)
            raise NotAwaitingApprovalError(f"job {job_id}: {message}") from None
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            raise UpdateNotTakenError(
                f"no worker took the {update} of job {job_id} within {timeout_s:g} s (is a worker running?)"
            ) from None
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise NotAwaitingApprovalError(f"job {job_id} has closed; it is not awaiting approval") from None
            raise
        return state

    async def agent_state(self, job_id: str, timeout_s: float = UPDATE_TIMEOUT_S) -> AgentState:
        """The `state` query of a running agent (needs a live worker)."""
        state: AgentState = await self.handle(job_id).query(
            "state", result_type=AgentState, rpc_timeout=timedelta(seconds=timeout_s)
        )
        return state

    async def pending(self, owner: str | None = None, limit: int = 100) -> list[PendingApproval]:
        """Agents waiting for approval, oldest pause first: visibility plus memo, so no worker is needed."""
        query = "GenAIPipeline = 'agent' AND AwaitingApproval = true AND ExecutionStatus = 'Running'"
        rows: list[PendingApproval] = []
        async for execution in self.temporal.list_workflows(query, limit=limit):
            raw = await execution.memo()
            memo = AgentMemo.model_validate({k: v for k, v in raw.items() if k in AgentMemo.model_fields})
            row_owner = raw.get("owner") or None
            if owner is not None and row_owner != owner:
                continue
            rows.append(
                PendingApproval(
                    job_id=execution.id,
                    task=memo.task,
                    reason=memo.pause_reason or None,
                    pending_question=memo.pending_question or None,
                    depth=memo.depth,
                    max_depth=memo.max_depth,
                    tokens_used=memo.tokens_used,
                    token_budget=memo.token_budget or None,
                    paused_at=memo.paused_at or None,
                    deadline=memo.deadline or None,
                    owner=row_owner,
                )
            )
        return sorted(rows, key=lambda r: r.paused_at or datetime.min.replace(tzinfo=UTC))

    def handle(self, job_id: str) -> WorkflowHandle[Any, Any]:
        """The Temporal handle of a job (its latest run)."""
        return self.temporal.get_workflow_handle(job_id)

    async def status(self, job_id: str, with_steps: bool = True) -> JobInfo:
        """A job's current status, result or error, usage and steps."""
        try:
            return await job_info(self.handle(job_id), with_steps=with_steps)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                raise JobNotFoundError(job_id) from None
            raise

    async def wait(self, job_id: str, poll_s: float = 0.5) -> JobInfo:
        """Block until the job is closed (or awaiting approval) and return its final status."""
        while True:
            info = await self.status(job_id, with_steps=False)
            if info.status.closed or info.status is JobStatus.AWAITING_APPROVAL:
                return await self.status(job_id)
            await asyncio.sleep(poll_s)

    async def cancel(self, job_id: str) -> None:
        """Request cancellation of a running job (JobClosedError once it has closed)."""
        # The server accepts a cancel request for a closed run without complaint: say so instead.
        info = await self.status(job_id, with_steps=False)
        if info.status.closed:
            raise JobClosedError(f"job {job_id} is already {info.status.value}")
        await self.handle(job_id).cancel()

    async def jobs(
        self, status: JobStatus | None = None, pipeline: Pipeline | None = None, limit: int = 50
    ) -> list[JobInfo]:
        """Recent jobs, newest first, optionally filtered by status and pipeline."""
        query = f"GenAIPipeline = '{pipeline.value}'" if pipeline else "GenAIPipeline IS NOT NULL"
        query += _status_filter(status)
        found: list[JobInfo] = []
        async for execution in self.temporal.list_workflows(query, limit=limit * 2 if status else limit):
            info = await self.status(execution.id, with_steps=False)
            if status is None or info.status is status:
                found.append(info)
            if len(found) >= limit:
                break
        # Visibility lists running runs first, then by close time: show them by creation, newest first.
        return sorted(found, key=lambda j: j.created_at or datetime.min.replace(tzinfo=UTC), reverse=True)


def _status_filter(status: JobStatus | None) -> str:
    # Visibility narrows the scan; job_info() then applies the exact mapping (queued vs running etc.).
    match status:
        case None:
            return ""
        case JobStatus.QUEUED | JobStatus.RUNNING | JobStatus.AWAITING_APPROVAL:
            return " AND ExecutionStatus = 'Running'"
        case JobStatus.COMPLETED:
            return " AND ExecutionStatus = 'Completed'"
        case JobStatus.DEAD_LETTERED:
            return " AND DeadLettered = true"
        case JobStatus.FAILED:
            return " AND ExecutionStatus != 'Running' AND ExecutionStatus != 'Completed'"


def _headline(request: BaseModel) -> str:
    for field in ("question", "task", "uri"):
        value = getattr(request, field, None)
        if isinstance(value, str):
            return value[:80]
    return type(request).__name__
