"""A job's steps as a waterfall: queue wait apart from run time, each attempt its own bar with its failure class.

Temporal's history keeps only an activity's last attempt (its ActivityTaskStarted carries the attempt number and
the previous attempt's failure). Earlier attempts come from the job's progress stream: each attempt publishes
`step.started {attempt}` (and `step.retrying` from the second on), so an earlier attempt's bar runs from its own
start to the next attempt's start; a model step's `step.retrying` also names the previous attempt's failure class
(`failure`), so every earlier bar carries one. The stream is bounded (trimmed), so very old attempts may be
missing: the bar count then follows the attempt number from history and says so.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHandle
from temporalio.converter import DataConverter

from schemas.events import EventType as ProgressType
from schemas.events import ProgressEvent

MAX_STEPS = 200  # a long agent run shows its first steps; the page stays light


class Bar(BaseModel):
    """One span of a step: `queue` (scheduled, not yet started) or one `attempt`."""

    kind: str
    attempt: int = 0
    start_s: float
    end_s: float
    outcome: str  # completed, failed, running, waiting, retried
    failure: str | None = None  # failure class (Transient, Throttled, ...) of a failed attempt

    @property
    def seconds(self) -> float:
        """The span's length."""
        return max(0.0, self.end_s - self.start_s)


class StepRow(BaseModel):
    """A step of the waterfall: its bars and totals."""

    name: str
    status: str
    attempts: int
    queue_s: float
    run_s: float
    bars: list[Bar]


class Waterfall(BaseModel):
    """Every step against the job's timeline (seconds from the job's start)."""

    total_s: float
    steps: list[StepRow]


class _Activity:
    def __init__(self, name: str, scheduled: datetime) -> None:
        self.name, self.scheduled = name, scheduled
        self.started: datetime | None = None
        self.closed: datetime | None = None
        self.attempt = 1
        self.status = "scheduled"
        self.failure: str | None = None
        self.previous_failure: str | None = None


def _ts(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime(tzinfo=UTC)


def _failure_class(failure: Any) -> str | None:
    while failure is not None and not failure.HasField("application_failure_info") and failure.HasField("cause"):
        failure = failure.cause
    if failure is None or (not failure.message and not failure.HasField("application_failure_info")):
        return None
    kind = failure.application_failure_info.type if failure.HasField("application_failure_info") else ""
    return kind or ("TimedOut" if failure.HasField("timeout_failure_info") else "Error")


async def _activities(handle: WorkflowHandle[Any, Any], converter: DataConverter) -> list[_Activity]:
    found: dict[int, _Activity] = {}
    async for event in handle.fetch_history_events():
        et = event.event_type
        if et == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            if len(found) >= MAX_STEPS:
                continue
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            if event.user_metadata.HasField("summary"):
                with contextlib.suppress(Exception):  # an unreadable summary must not hide the step
                    name = str((await converter.decode([event.user_metadata.summary]))[0]) or name
            found[event.event_id] = _Activity(name, _ts(event))
        elif et == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attrs = event.activity_task_started_event_attributes
            if act := found.get(attrs.scheduled_event_id):
                act.started, act.attempt, act.status = _ts(event), attrs.attempt, "running"
                if attrs.HasField("last_failure"):
                    act.previous_failure = _failure_class(attrs.last_failure)
        elif et in _CLOSING:
            field, status = _CLOSING[et]
            attrs = getattr(event, field)
            if act := found.get(attrs.scheduled_event_id):
                act.closed, act.status = _ts(event), status
                if status != "completed":
                    act.failure = _failure_class(getattr(attrs, "failure", None)) or status
    return list(found.values())


_CLOSING: dict[int, tuple[str, str]] = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: ("activity_task_completed_event_attributes", "completed"),
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: ("activity_task_failed_event_attributes", "failed"),
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: ("activity_task_timed_out_event_attributes", "timed_out"),
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: ("activity_task_canceled_event_attributes", "cancelled"),
}


def _attempt_starts(events: list[ProgressEvent]) -> dict[str, dict[int, datetime]]:
    """step -> attempt -> when that attempt started, from `step.started` / `step.retrying` events."""
    starts: dict[str, dict[int, datetime]] = {}
    for event in events:
        if event.step and event.type in (ProgressType.STEP_STARTED, ProgressType.STEP_RETRYING):
            attempt = int(event.data.get("attempt") or 1)
            starts.setdefault(event.step, {}).setdefault(attempt, event.at)
    return starts


def _attempt_failures(events: list[ProgressEvent]) -> dict[str, dict[int, str]]:
    """step -> attempt -> its failure class, from the next attempt's `step.retrying {attempt, failure}`."""
    failures: dict[str, dict[int, str]] = {}
    for event in events:
        failure = event.data.get("failure")
        if event.step and event.type is ProgressType.STEP_RETRYING and isinstance(failure, str) and failure:
            failures.setdefault(event.step, {})[int(event.data.get("attempt") or 2) - 1] = failure
    return failures


def _named(by_step: dict[str, dict[int, Any]], name: str) -> dict[int, Any]:
    # History names a step by its summary (`retrieve: top-4 of docs`), events by the step alone (`retrieve`).
    return by_step.get(name) or by_step.get(name.split(":", 1)[0]) or {}


def build(acts: list[_Activity], events: list[ProgressEvent], t0: datetime, now: datetime) -> Waterfall:
    """The waterfall of these activities (from history) and attempt starts (from the progress stream)."""
    starts, failures = _attempt_starts(events), _attempt_failures(events)

    def rel(when: datetime) -> float:
        return max(0.0, (when - t0).total_seconds())

    rows: list[StepRow] = []
    for act in acts:
        end = act.closed or now
        seen, failed = _named(starts, act.name), _named(failures, act.name)
        first_start = seen.get(1) or (act.started if act.attempt == 1 else None) or act.started or end
        bars = [Bar(kind="queue", start_s=rel(act.scheduled), end_s=rel(first_start), outcome="waiting")]
        for n in range(1, act.attempt):  # earlier attempts: from the stream (approximate when it was trimmed)
            begin = seen.get(n, first_start if n == 1 else seen.get(n - 1, first_start))
            finish = seen.get(n + 1) or act.started or end
            failure = failed.get(n) or (act.previous_failure if n == act.attempt - 1 else None)
            span = {"start_s": rel(begin), "end_s": rel(finish)}
            bars.append(Bar(kind="attempt", attempt=n, outcome="retried", failure=failure, **span))
        last_start = act.started or seen.get(act.attempt)
        if last_start is not None:
            outcome = act.status if act.closed else "running"
            bars.append(
                Bar(
                    kind="attempt",
                    attempt=act.attempt,
                    start_s=rel(last_start),
                    end_s=rel(end),
                    outcome=outcome,
                    failure=act.failure,
                )
            )
        queue_s = bars[0].seconds
        run_s = sum(b.seconds for b in bars[1:])
        rows.append(
            StepRow(name=act.name, status=act.status, attempts=act.attempt, queue_s=queue_s, run_s=run_s, bars=bars)
        )
    total = max([b.end_s for r in rows for b in r.bars] + [0.001])
    return Waterfall(total_s=total, steps=rows)


async def waterfall(
    handle: WorkflowHandle[Any, Any],
    converter: DataConverter,
    events: list[ProgressEvent],
    t0: datetime,
    closed: datetime | None,
) -> Waterfall:
    """Read the run's history and lay its steps out against the job's timeline."""
    acts = await _activities(handle, converter)
    return build(acts, events, t0, closed or datetime.now(UTC))
