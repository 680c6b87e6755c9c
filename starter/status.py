"""Derive a job's user-facing status from `describe()` and search attributes (never a query: no worker needed)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import (
    WorkflowExecution,
    WorkflowExecutionDescription,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowHistoryEventFilterType,
)
from temporalio.converter import DataConverter

from schemas import search_attributes as sa
from schemas.jobs import ErrorKind, JobError, JobInfo, JobStatus, Pipeline, StepInfo
from schemas.usage import Usage

# A fresh run has WorkflowExecutionStarted, WorkflowTaskScheduled and perhaps WorkflowTaskStarted; any more
# events mean a worker picked it up and the first step was scheduled.
_QUEUED_HISTORY_LENGTH = 3


def status_of(desc: WorkflowExecution) -> JobStatus:
    """Map Temporal's execution status plus our search attributes to a JobStatus (a describe() or a list entry)."""
    attrs = desc.typed_search_attributes
    match desc.status:
        case WorkflowExecutionStatus.RUNNING | WorkflowExecutionStatus.CONTINUED_AS_NEW | None:
            if attrs.get(sa.AWAITING_APPROVAL):
                return JobStatus.AWAITING_APPROVAL
            # A list entry has no pending activities: its history length alone tells queued from running.
            raw = desc.raw_description if isinstance(desc, WorkflowExecutionDescription) else None
            pending = raw.pending_activities if raw is not None else None
            # A run that continued-as-new starts with a short history too, but its job has long been running.
            first_run = (raw.workflow_execution_info if raw is not None else desc.raw_info).first_run_id
            continued = first_run not in ("", desc.run_id)
            if not pending and not continued and desc.history_length <= _QUEUED_HISTORY_LENGTH:
                return JobStatus.QUEUED
            return JobStatus.RUNNING
        case WorkflowExecutionStatus.COMPLETED:
            return JobStatus.COMPLETED
        case WorkflowExecutionStatus.FAILED if attrs.get(sa.DEAD_LETTERED):
            return JobStatus.DEAD_LETTERED
        case _:
            return JobStatus.FAILED


def pipeline_of(desc: WorkflowExecution) -> Pipeline | None:
    """The job's pipeline from its `GenAIPipeline` search attribute."""
    value = desc.typed_search_attributes.get(sa.PIPELINE)
    try:
        return Pipeline(value) if value else None
    except ValueError:
        return None


async def error_of(handle: WorkflowHandle[Any, Any], status: JobStatus) -> JobError:
    """Why a closed run did not complete, read from its close event (reason, failure message and type)."""
    async for event in handle.fetch_history_events(event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT):
        if event.HasField("workflow_execution_failed_event_attributes"):
            failure = event.workflow_execution_failed_event_attributes.failure
            # An activity's failure wraps the application error that says what went wrong: report that one.
            while not failure.HasField("application_failure_info") and failure.HasField("cause"):
                failure = failure.cause
            kind = ErrorKind.DEAD_LETTERED if status is JobStatus.DEAD_LETTERED else ErrorKind.FAILED
            err_type = failure.application_failure_info.type if failure.HasField("application_failure_info") else None
            return JobError(kind=kind, message=failure.message, type=err_type or None)
        if event.HasField("workflow_execution_terminated_event_attributes"):
            reason = event.workflow_execution_terminated_event_attributes.reason
            return JobError(kind=ErrorKind.TERMINATED, message=reason or "terminated", type="Terminated")
        if event.HasField("workflow_execution_canceled_event_attributes"):
            return JobError(kind=ErrorKind.CANCELLED, message="cancelled", type="Cancelled")
        if event.HasField("workflow_execution_timed_out_event_attributes"):
            return JobError(kind=ErrorKind.TIMED_OUT, message="the job exceeded its execution timeout", type="TimedOut")
    return JobError(kind=ErrorKind.FAILED, message="closed without a close event")


async def steps_of(handle: WorkflowHandle[Any, Any], converter: DataConverter | None = None) -> list[StepInfo]:
    """Each activity of the run (by its summary, else its type) with status and attempts, from history."""
    steps: dict[int, StepInfo] = {}
    async for event in handle.fetch_history_events():
        et = event.event_type
        if et == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            name = await _summary(event, converter) or attrs.activity_type.name
            steps[event.event_id] = StepInfo(name=name, status="scheduled", started_at=_ts(event))
        elif et == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started = event.activity_task_started_event_attributes
            if step := steps.get(started.scheduled_event_id):
                step.status, step.attempts = "running", started.attempt
        elif et in _CLOSING_EVENTS:
            field, status = _CLOSING_EVENTS[et]
            scheduled_id = getattr(event, field).scheduled_event_id
            if step := steps.get(scheduled_id):
                step.status, step.closed_at = status, _ts(event)
    return list(steps.values())


_CLOSING_EVENTS: dict[int, tuple[str, str]] = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: ("activity_task_completed_event_attributes", "completed"),
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: ("activity_task_failed_event_attributes", "failed"),
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: ("activity_task_timed_out_event_attributes", "timed_out"),
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: ("activity_task_canceled_event_attributes", "cancelled"),
}


async def _summary(event: HistoryEvent, converter: DataConverter | None) -> str:
    # Summaries are payloads like any other: encrypted ones need the client's codec.
    if not event.user_metadata.HasField("summary"):
        return ""
    if converter is not None:
        try:
            return str((await converter.decode([event.user_metadata.summary]))[0])
        except Exception:  # an unreadable summary must not hide the step: fall back to the activity type
            return ""
    data = event.user_metadata.summary.data
    if not data:
        return ""
    try:
        return str(json.loads(data))
    except ValueError:
        return data.decode(errors="replace")


def _ts(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime(tzinfo=UTC)


def usage_of(result: dict[str, Any] | None, desc: WorkflowExecution) -> Usage:
    """Total usage from the result when there is one, else the running `TokensUsed` counter."""
    if result and isinstance(result.get("usage"), dict):
        return Usage.model_validate(result["usage"])
    tokens = desc.typed_search_attributes.get(sa.TOKENS_USED) or 0
    return Usage(billed_tokens=tokens)


class JobForbiddenError(PermissionError):
    """The job belongs to another owner (`GenAIOwner`)."""


def owner_of(desc: WorkflowExecution) -> str:
    """The job's `GenAIOwner` (a key id or `cli:<user>`; empty for jobs started before owners were recorded)."""
    return desc.typed_search_attributes.get(sa.OWNER) or ""


async def job_info(
    handle: WorkflowHandle[Any, Any],
    with_steps: bool = True,
    owner: str | None = None,
    converter: DataConverter | None = None,
) -> JobInfo:
    """Everything `status` shows about one job; with `owner`, JobForbiddenError when it is someone else's."""
    desc = await handle.describe()
    if owner is not None and owner_of(desc) != owner:
        raise JobForbiddenError(f"job {desc.id} belongs to another API key")
    status = status_of(desc)
    result: dict[str, Any] | None = None
    error: JobError | None = None
    if status is JobStatus.COMPLETED:
        raw = await handle.result()
        result = raw if isinstance(raw, dict) else {"value": raw}
    elif status.closed:
        error = await error_of(handle, status)
    return JobInfo(
        job_id=desc.id,
        pipeline=pipeline_of(desc),
        status=status,
        outcome=(result or {}).get("outcome") or ("completed" if status is JobStatus.COMPLETED else None),
        result=result,
        error=error,
        usage=usage_of(result, desc),
        steps=await steps_of(handle, converter) if with_steps else [],
        created_at=desc.start_time,
        closed_at=desc.close_time,
    )


_KIND_BY_STATUS = {
    WorkflowExecutionStatus.TERMINATED: ErrorKind.TERMINATED,
    WorkflowExecutionStatus.CANCELED: ErrorKind.CANCELLED,
    WorkflowExecutionStatus.TIMED_OUT: ErrorKind.TIMED_OUT,
}


async def listed_job_info(execution: WorkflowExecution) -> JobInfo:
    """A job as a list shows it, from one visibility entry and its memo alone (no describe, no history read)."""
    status = status_of(execution)
    try:
        memo = await execution.memo()
    except (KeyError, ValueError):
        # Written under an encryption key this process lacks (KeyError: no codec at all; a DecryptionError, a
        # ValueError: not this key): list the job from visibility alone rather than fail the whole list.
        memo = {}
    error: JobError | None = None
    if status.closed and status is not JobStatus.COMPLETED:
        kind = ErrorKind.DEAD_LETTERED if status is JobStatus.DEAD_LETTERED else ErrorKind.FAILED
        kind = _KIND_BY_STATUS.get(execution.status or WorkflowExecutionStatus.FAILED, kind)
        error = JobError(kind=kind, message=str(memo.get("error", "")))
    outcome = memo.get("outcome") or ("completed" if status is JobStatus.COMPLETED else None)
    return JobInfo(
        job_id=execution.id,
        pipeline=pipeline_of(execution),
        status=status,
        outcome=str(outcome) if outcome else None,
        error=error,
        usage=usage_of(None, execution),
        created_at=execution.start_time,
        closed_at=execution.close_time,
    )
