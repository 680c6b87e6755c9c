"""Where a workflow run's time went, read from its Temporal history (event timestamps are the server's clock)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHandle

from bench.harness import median

_ACTIVITY_DONE = (
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
)


def _at(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime()


def _ms(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() * 1000


def breakdown(events: list[HistoryEvent]) -> dict[str, float]:
    """Milliseconds per phase of one run: workflow tasks waiting/running, each activity waiting/running, the total.

    Keys: `total` (started → completed), `wft_wait` / `wft_run` (summed over workflow tasks), `wft_count`,
    `act_wait:<type>` / `act_run:<type>` (summed over activities of that type), `markers` (local activities).
    """
    by_id = {e.event_id: e for e in events}
    out: dict[str, float] = defaultdict(float)
    first = _at(events[0])
    for event in events:
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            sched = by_id[event.workflow_task_started_event_attributes.scheduled_event_id]
            out["wft_wait"] += _ms(_at(event), _at(sched))
            out["wft_count"] += 1
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            started = by_id[event.workflow_task_completed_event_attributes.started_event_id]
            out["wft_run"] += _ms(_at(event), _at(started))
        elif kind in _ACTIVITY_DONE:
            attrs = (
                event.activity_task_completed_event_attributes
                if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
                else event.activity_task_failed_event_attributes
                if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED
                else event.activity_task_timed_out_event_attributes
            )
            sched = by_id[attrs.scheduled_event_id]
            started = by_id[attrs.started_event_id]
            name = sched.activity_task_scheduled_event_attributes.activity_type.name
            out[f"act_wait:{name}"] += _ms(_at(started), _at(sched))
            out[f"act_run:{name}"] += _ms(_at(event), _at(started))
        elif kind == EventType.EVENT_TYPE_MARKER_RECORDED:
            out["markers"] += 1
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            out["total"] = _ms(_at(event), first)
    return dict(out)


def timeline(events: list[HistoryEvent]) -> list[str]:
    """One line per event: offset in ms from the run's start, event type and activity type where there is one."""
    first = _at(events[0])
    by_id = {e.event_id: e for e in events}
    lines = []
    for event in events:
        name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_").lower()
        label = ""
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            label = event.activity_task_scheduled_event_attributes.activity_type.name
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            sched = by_id[event.activity_task_started_event_attributes.scheduled_event_id]
            label = sched.activity_task_scheduled_event_attributes.activity_type.name
        lines.append(f"{_ms(_at(event), first):8.1f} ms  {name} {label}".rstrip())
    return lines


async def events_of(handle: WorkflowHandle[object, object]) -> list[HistoryEvent]:
    """The full history of a closed run."""
    history = await handle.fetch_history()
    return list(history.events)


def summarize(runs: list[dict[str, float]]) -> dict[str, float]:
    """Median of every phase across runs (phases a run lacks count as 0)."""
    keys = sorted({k for run in runs for k in run})
    return {k: round(median([run.get(k, 0.0) for run in runs]), 2) for k in keys}
