"""A live terminal view of a job: steps as they start and finish, the answer as it streams, then the outcome."""

from __future__ import annotations

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from runtime.at_rest import at_rest_for
from runtime.keys import RedisKeys
from runtime.redis import redis_client
from schemas.events import EventType, ProgressEvent
from schemas.jobs import JobInfo, JobStatus
from starter.client import GenAIFlowClient
from starter.events import StreamedText, follow


class ProgressView:
    """Renders step states and streamed tokens."""

    def __init__(self) -> None:
        self.steps: dict[str, str] = {}
        self.streamed = StreamedText()  # drops a step's partial text when the step is retried

    def apply(self, event: ProgressEvent) -> None:
        """Fold one event into the view."""
        if event.type is EventType.STEP_STARTED and event.step:
            attempt = event.data.get("attempt", 1)
            self.steps[event.step] = "running" + (f" (attempt {attempt})" if attempt and attempt > 1 else "")
        elif event.type is EventType.STEP_COMPLETED and event.step:
            usage = event.data.get("usage") or {}
            hit = " cached" if usage.get("cache_hit") else ""
            self.steps[event.step] = f"done · {usage.get('billed_tokens', 0)} tokens billed{hit}"
        elif event.type in (EventType.TOKEN, EventType.STEP_RETRYING):
            self.streamed.apply(event)
            if event.type is EventType.STEP_RETRYING and event.step:
                self.steps[event.step] = f"retrying (attempt {event.data.get('attempt', '?')})"
        elif event.type.terminal or event.type is EventType.AWAITING_APPROVAL:
            self.steps[event.type.value] = ""

    def render(self) -> Group:
        """The current view."""
        table = Table.grid(padding=(0, 2))
        for step, state in self.steps.items():
            table.add_row(Text(step, style="bold"), Text(state, style="cyan"))
        return Group(table, Text(self.streamed.text))

    @property
    def text(self) -> str:
        """The streamed text shown."""
        return self.streamed.text


async def watch(client: GenAIFlowClient, job_id: str, console: Console) -> JobInfo:
    """Show a job's progress live until it closes (or awaits approval); returns its final status."""
    redis = redis_client(client.settings)
    view = ProgressView()
    try:
        with Live(view.render(), console=console, refresh_per_second=8, transient=True) as live:
            at_rest = at_rest_for(client.settings.encryption_entries)  # events rest encrypted when keys are set
            async for _id, event in follow(redis, RedisKeys.of(client.settings), job_id, at_rest=at_rest):
                if event is not None:
                    view.apply(event)
                    live.update(view.render())
                    if not (event.type.terminal or event.type is EventType.AWAITING_APPROVAL):
                        continue
                # A terminal event, or an idle second: check the job itself (it may have ended without an event).
                info = await client.status(job_id, with_steps=False)
                if info.status.closed or info.status is JobStatus.AWAITING_APPROVAL:
                    break
    finally:
        await redis.aclose()
    return await client.status(job_id)
