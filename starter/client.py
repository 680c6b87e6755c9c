"""The Python client of genai-flow: start jobs, follow them, read status and results, cancel, list."""

from __future__ import annotations

import asyncio
import base64
import binascii
import gc
import getpass
import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

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

from runtime.keys import RedisKeys
from runtime.settings import Settings, get_settings
from runtime.temporal import connect
from schemas import queues
from schemas import search_attributes as sa
from schemas.jobs import WORKFLOW_TYPES, JobInfo, JobStarted, JobStatus, Pipeline
from starter.status import JobForbiddenError, job_info, listed_job_info
from starter.webui import job_details

# The agent, ingestion and event schemas (and the price table) load in the methods that use them: `status`,
# `result` and `jobs` need none of them, and building their ~60 pydantic models costs every CLI command ~0.07 s.
if TYPE_CHECKING:
    from redis.asyncio import Redis

    from schemas.agent import AgentRequest, AgentState, ApproveRequest, PendingApproval
    from schemas.events import ProgressEvent
    from schemas.ingest import IngestAccepted, IngestJob, ObjectVersion
    from schemas.s3events import IgnoredEvent, ParsedEvents
    from starter.ingestion import Ingestion

__all__ = [
    "BadPageTokenError",
    "GenAIFlowClient",
    "IdempotencyConflictError",
    "JobClosedError",
    "JobForbiddenError",
    "JobNotFoundError",
    "JobPage",
]


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


def job_id_for(pipeline: Pipeline, idempotency_key: str | None = None, owner: str = "") -> str:
    """`<pipeline>-<hex>`: derived from the owner's key id and the Idempotency-Key when given, else random.

    The owner is part of the hash, so two callers who happen to pick the same Idempotency-Key get two jobs.
    """
    if idempotency_key:
        material = f"{owner}\n{idempotency_key}" if owner else idempotency_key
        return f"{pipeline.value}-{hashlib.sha256(material.encode()).hexdigest()[:32]}"
    return f"{pipeline.value}-{uuid.uuid4().hex}"


def local_owner() -> str:
    """`cli:<user>`: the `GenAIOwner` of jobs started by a trusted local user (the CLI, scripts)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (containers with an arbitrary uid)
        return "cli:unknown"


_UNAVAILABLE = frozenset({RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.RESOURCE_EXHAUSTED})


class BadPageTokenError(ValueError):
    """A page token that this server did not hand out."""


@dataclass
class JobPage:
    """One page of a job list and the token of the next page (None on the last page)."""

    jobs: list[JobInfo]
    next_page_token: str | None


class GenAIFlowClient:
    """One object for everything a caller does with jobs; the CLI and the gateway are built on it."""

    def __init__(self, temporal: Client, settings: Settings | None = None) -> None:
        self.temporal = temporal
        self.settings = settings or get_settings()
        self._redis: Redis | None = None
        self._ingestion: Ingestion | None = None

    @classmethod
    async def connect(cls, settings: Settings | None = None) -> GenAIFlowClient:
        """Connect to Temporal with the project's data converter."""
        settings = settings or get_settings()
        return cls(await connect(settings), settings)

    async def aclose(self) -> None:
        """Drop the Temporal connection while the event loop still runs.

        A Temporal client still alive when the interpreter exits can abort it ("PyGILState_Release ... finalizing",
        temporalio/sdk-python#300): releasing and collecting it first avoids that. The client is unusable afterwards.
        """
        if self._redis is not None:
            await self._redis.aclose()
        self._redis = self._ingestion = None
        self.__dict__.pop("temporal", None)
        gc.collect()
        await asyncio.sleep(0)

    async def __aenter__(self) -> GenAIFlowClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()

    @property
    def redis(self) -> Redis:
        """The client's one Redis client (progress events, the index's records), created at first use."""
        if self._redis is None:
            # Redis (and its client library, ~0.2 s to import) only for callers that need it: `status` stays fast.
            from runtime.redis import redis_client

            self._redis = redis_client(self.settings)
        return self._redis

    @property
    def ingestion(self) -> Ingestion:
        """Starts IngestDocument runs: version checks against the index's records, derived ids, duplicates."""
        if self._ingestion is None:
            from runtime.documents import DocumentRegistry
            from starter.ingestion import Ingestion

            self._ingestion = Ingestion(self, DocumentRegistry(self.redis, RedisKeys.of(self.settings)))
        return self._ingestion

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
        check_request: bool = True,
    ) -> JobStarted:
        """Start a job; a repeated id returns the existing job marked `duplicate` (409-worthy if the body differs)."""
        derived = job_id is not None or idempotency_key is not None
        owner = owner or local_owner()
        job_id = job_id or job_id_for(pipeline, idempotency_key, owner)
        digest = request_digest(request)
        # Workflows cannot read settings: the deployment's defaults travel with the request.
        defaults = {"step_deadline_s": self.settings.step_deadline_s, "score_gap": self.settings.score_gap}
        unset = {
            name: value for name, value in defaults.items() if getattr(request, name, 0) is None and value is not None
        }
        if unset:
            request = request.model_copy(update=unset)
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
                memo={"request_sha256": digest, "owner": owner, "replay_of": replay_of or ""},
                search_attributes=TypedSearchAttributes(
                    [SearchAttributePair(sa.PIPELINE, pipeline.value), SearchAttributePair(sa.OWNER, owner)]
                ),
                static_summary=f"{pipeline.value}: {_headline(request)}",
                static_details=job_details(pipeline, request, owner, replay_of),
                priority=queues.job_priority(pipeline.value, owner),
            )
        except WorkflowAlreadyStartedError:
            duplicate = True
            existing = await self.temporal.get_workflow_handle(job_id).describe()
            if check_request and (await existing.memo_value("request_sha256", "")) != digest:
                raise IdempotencyConflictError(f"job {job_id} was started with a different request") from None
        status_url, events_url = self.urls(job_id)
        return JobStarted(job_id=job_id, status_url=status_url, events_url=events_url, duplicate=duplicate)

    async def ingest(
        self, obj: ObjectVersion, collection: str | None = None, *, owner: str | None = None
    ) -> IngestJob | IgnoredEvent:
        """Start ingesting one object version: `unchanged` when the index holds it, `duplicate` when already started."""
        return await self.ingestion.start(obj, collection or self.settings.ingest_collection, owner=owner)

    async def ingest_uri(
        self, uri: str, collection: str | None = None, *, owner: str | None = None
    ) -> IngestJob | IgnoredEvent:
        """Start ingesting an object's current version by URI (`s3://…`, `file://…` or a path)."""
        return await self.ingestion.start_uri(uri, collection or self.settings.ingest_collection, owner)

    async def remove(
        self, obj: ObjectVersion, collection: str | None = None, *, owner: str | None = None
    ) -> IngestJob | IgnoredEvent:
        """Start removing one object's chunks (ignored when a later event already superseded the removal)."""
        from schemas.ingest import IngestAction

        collection = collection or self.settings.ingest_collection
        return await self.ingestion.start(obj, collection, IngestAction.REMOVE, owner=owner)

    async def ingest_events(
        self,
        parsed: ParsedEvents,
        collection: str | None = None,
        *,
        allowed_buckets: list[str] | None = None,
        owner: str | None = None,
    ) -> IngestAccepted:
        """Start one run per object event of a parsed S3 notification (`runtime.s3events.parse_event_body`)."""
        collection = collection or self.settings.ingest_collection
        return await self.ingestion.start_from_events(parsed, collection, allowed_buckets, owner)

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
        from schemas.agent import RejectRequest

        return await self._decide(job_id, "reject", RejectRequest(reason=reason, approver=approver), timeout_s)

    async def _decide(self, job_id: str, update: str, arg: BaseModel, timeout_s: float) -> AgentState:
        from schemas.agent import AgentState

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
        from schemas.agent import AgentState

        state: AgentState = await self.handle(job_id).query(
            "state", result_type=AgentState, rpc_timeout=timedelta(seconds=timeout_s)
        )
        return state

    async def pending(self, owner: str | None = None, limit: int = 100) -> list[PendingApproval]:
        """Agents waiting for approval, oldest pause first: visibility plus memo, so no worker is needed."""
        from runtime.pricing import price_table
        from schemas.agent import AgentMemo, PendingApproval

        query = "GenAIPipeline = 'agent' AND AwaitingApproval = true AND ExecutionStatus = 'Running'"
        rows: list[PendingApproval] = []
        prices = price_table()
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
                    cost_usd=memo.priced_usd + sum(prices.cost(usage) for usage in memo.ledger),
                    paused_at=memo.paused_at or None,
                    deadline=memo.deadline or None,
                    owner=row_owner,
                )
            )
        return sorted(rows, key=lambda r: r.paused_at or datetime.min.replace(tzinfo=UTC))

    def handle(self, job_id: str) -> WorkflowHandle[Any, Any]:
        """The Temporal handle of a job (its latest run)."""
        return self.temporal.get_workflow_handle(job_id)

    async def status(self, job_id: str, with_steps: bool = True, owner: str | None = None) -> JobInfo:
        """A job's current status, result or error, usage and steps (JobForbiddenError if `owner` is not its owner)."""
        try:
            handle = self.handle(job_id)
            return await job_info(handle, with_steps, owner, self.temporal.data_converter)
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

    async def events(self, job_id: str, after: str = "0") -> AsyncIterator[ProgressEvent]:
        """A job's progress events (from its Redis Stream, after stream id `after`) until it closes.

        Ends after the terminal event, or when the run closed without one (terminated, cancelled, timed out).
        HTTP callers get the same events over SSE from the gateway.
        """
        from runtime.at_rest import at_rest_for
        from starter.events import follow

        at_rest = at_rest_for(self.settings.encryption_entries)
        async for _id, event in follow(self.redis, RedisKeys.of(self.settings), job_id, after, at_rest=at_rest):
            if event is None:  # an idle second: did the run end without a terminal event?
                if (await self.status(job_id, with_steps=False)).status.closed:
                    return
                continue
            yield event
            if event.type.terminal:
                return

    async def cancel(self, job_id: str, owner: str | None = None) -> None:
        """Request cancellation of a running job (JobClosedError once it has closed)."""
        # The server accepts a cancel request for a closed run without complaint: say so instead.
        info = await self.status(job_id, with_steps=False, owner=owner)
        if info.status.closed:
            raise JobClosedError(f"job {job_id} is already {info.status.value}")
        await self.handle(job_id).cancel()

    async def jobs(
        self,
        status: JobStatus | None = None,
        pipeline: Pipeline | None = None,
        limit: int = 50,
        owner: str | None = None,
    ) -> list[JobInfo]:
        """Recent jobs, newest first, optionally filtered by status, pipeline and owner."""
        found: list[JobInfo] = []
        token: str | None = None
        while len(found) < limit:
            page = await self.jobs_page(status, pipeline, owner, page_size=min(limit * 2, 1000), page_token=token)
            found.extend(page.jobs)
            token = page.next_page_token
            if token is None:
                break
        # Visibility lists running runs first, then by close time: show them by creation, newest first.
        found.sort(key=lambda j: j.created_at or datetime.min.replace(tzinfo=UTC), reverse=True)
        return found[:limit]

    async def jobs_page(
        self,
        status: JobStatus | None = None,
        pipeline: Pipeline | None = None,
        owner: str | None = None,
        page_size: int = 50,
        page_token: str | None = None,
    ) -> JobPage:
        """One page of jobs from ONE visibility query (search attributes + memo; no describe per job)."""
        query = f"GenAIPipeline = {_quoted(pipeline.value)}" if pipeline else "GenAIPipeline IS NOT NULL"
        if owner is not None:
            query += f" AND GenAIOwner = {_quoted(owner)}"
        query += _status_filter(status)
        try:
            token = base64.b64decode(page_token.encode(), altchars=b"-_", validate=True) if page_token else None
        except (binascii.Error, ValueError):
            raise BadPageTokenError("page token is not one this server handed out") from None
        listing = self.temporal.list_workflows(query, page_size=page_size, next_page_token=token)
        try:
            await listing.fetch_next_page()
        except RPCError as err:
            # The server answers a token it cannot parse with INVALID_ARGUMENT or an internal error (`AA==`):
            # with a token given, anything but unavailability is the token's fault, so never "retry later".
            if page_token and err.status not in _UNAVAILABLE:
                raise BadPageTokenError("page token is not one this server handed out") from None
            raise
        jobs = [await listed_job_info(execution) for execution in listing.current_page or []]
        # Visibility narrows by Temporal state; the exact mapping (queued vs running etc.) filters the page.
        jobs = [j for j in jobs if status is None or j.status is status]
        next_token = listing.next_page_token
        return JobPage(jobs, base64.urlsafe_b64encode(next_token).decode() if next_token else None)


def _quoted(value: str) -> str:
    """A visibility-query string literal (quotes escaped, so a value cannot change the query)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


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
