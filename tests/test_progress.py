"""The live progress view of `genai-flow ask --wait`: what a person sees as events arrive."""

from __future__ import annotations

from rich.console import Console

from schemas.events import EventType, ProgressEvent
from starter.cli.progress import ProgressView


def rendered(view: ProgressView) -> str:
    console = Console(record=True, width=100, color_system=None)
    console.print(view.render())
    return console.export_text()


def event(type_: EventType, step: str | None = None, **data: object) -> ProgressEvent:
    return ProgressEvent(type=type_, job_id="answer-1", step=step, data=data)


def test_steps_and_streamed_tokens_show_as_they_arrive() -> None:
    view = ProgressView()
    view.apply(event(EventType.STEP_STARTED, "retrieve", attempt=1))
    assert "retrieve" in rendered(view) and "running" in rendered(view)
    view.apply(event(EventType.STEP_COMPLETED, "retrieve", usage={"billed_tokens": 7}))
    view.apply(event(EventType.STEP_STARTED, "generate_answer", attempt=2))
    view.apply(event(EventType.TOKEN, "generate_answer", delta="The reactor "))
    view.apply(event(EventType.TOKEN, "generate_answer", delta="[zephyr.md#0]"))
    text = rendered(view)
    assert "done · 7 tokens billed" in text
    assert "running (attempt 2)" in text
    assert "The reactor [zephyr.md#0]" in text  # streamed model text is shown as text, never as markup


def test_cache_hits_and_the_terminal_event_are_shown() -> None:
    view = ProgressView()
    view.apply(event(EventType.STEP_COMPLETED, "summarize", usage={"billed_tokens": 0, "cache_hit": True}))
    view.apply(event(EventType.JOB_DEAD_LETTERED))
    text = rendered(view)
    assert "done · 0 tokens billed cached" in text and "job.dead_lettered" in text


def test_a_retried_step_drops_its_partial_text() -> None:
    view = ProgressView()
    view.apply(event(EventType.TOKEN, "generate_answer", delta="The reac", attempt=1))
    view.apply(event(EventType.STEP_RETRYING, "generate_answer", attempt=2))
    assert "The reac" not in rendered(view) and "retrying (attempt 2)" in rendered(view)
    view.apply(event(EventType.TOKEN, "generate_answer", delta="The reactor was ", attempt=2))
    view.apply(event(EventType.TOKEN, "generate_answer", delta="stale", attempt=1))  # a stalled attempt's late write
    view.apply(event(EventType.TOKEN, "generate_answer", delta="commissioned.", attempt=2))
    assert view.text == "The reactor was commissioned."
