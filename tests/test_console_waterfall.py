"""The console's waterfall: queue wait apart from run time, one bar per attempt, earlier attempts from the stream."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.console.views import cut
from gateway.console.waterfall import _Activity, build
from schemas.events import EventType, ProgressEvent

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def started(step: str, attempt: int, seconds: float, failure: str | None = None) -> list[ProgressEvent]:
    events = [
        ProgressEvent(type=EventType.STEP_STARTED, job_id="j", step=step, data={"attempt": attempt}, at=at(seconds))
    ]
    if attempt > 1:
        data: dict[str, object] = {"attempt": attempt, **({"failure": failure} if failure else {})}
        events.append(ProgressEvent(type=EventType.STEP_RETRYING, job_id="j", step=step, data=data, at=at(seconds)))
    return events


def test_a_retried_step_has_a_queue_bar_and_one_bar_per_attempt() -> None:
    act = _Activity("retrieve: top-4 of docs", at(1))  # history names it by its summary, events by the step
    act.started, act.closed, act.attempt, act.status = at(7), at(8), 3, "completed"
    act.previous_failure = "Transient"
    events = started("retrieve", 1, 1.5) + started("retrieve", 2, 3) + started("retrieve", 3, 7)
    [row] = build([act], events, T0, at(10)).steps
    queue, first, second, last = row.bars
    assert (queue.kind, queue.start_s, queue.end_s) == ("queue", 1.0, 1.5)
    assert (first.start_s, first.end_s, first.outcome, first.failure) == (1.5, 3.0, "retried", None)
    assert (second.start_s, second.end_s, second.failure) == (3.0, 7.0, "Transient")
    assert (last.attempt, last.start_s, last.end_s, last.outcome) == (3, 7.0, 8.0, "completed")
    assert row.queue_s == 0.5 and row.run_s == 6.5


def test_every_earlier_attempt_carries_the_failure_class_its_retry_named() -> None:
    act = _Activity("generate_answer", at(0))
    act.started, act.closed, act.attempt, act.status, act.failure = at(9), at(10), 4, "failed", "InvalidOutput"
    act.previous_failure = "Throttled"  # history's word for attempt 3
    events = (
        started("generate_answer", 1, 1)
        + started("generate_answer", 2, 3, "Transient")
        + started("generate_answer", 3, 5, "InvalidOutput")
        + started("generate_answer", 4, 9)  # an older worker's retry names nothing: history still does
    )
    [row] = build([act], events, T0, at(10)).steps
    assert [(b.attempt, b.failure) for b in row.bars[1:]] == [
        (1, "Transient"),
        (2, "InvalidOutput"),
        (3, "Throttled"),
        (4, "InvalidOutput"),
    ]


def test_a_running_step_without_history_start_uses_its_event() -> None:
    act = _Activity("generate_answer", at(2))
    [row] = build([act], started("generate_answer", 1, 2.25), T0, at(4)).steps
    assert [(b.kind, b.outcome) for b in row.bars] == [("queue", "waiting"), ("attempt", "running")]
    assert row.bars[1].end_s == 4.0


def test_cut_keeps_a_bounded_prefix() -> None:
    shown = cut("x" * 50, 20)
    assert shown.truncated and len(shown.shown) == 20 and shown.total == 50
    assert not cut("short", 20).truncated
