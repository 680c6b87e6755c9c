"""Follow a job's progress events from its Redis Stream (the CLI reads Redis directly; HTTP clients use SSE)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio

from runtime.at_rest import PLAIN, AtRest
from runtime.event_fields import opened_event
from runtime.keys import RedisKeys
from schemas.events import EventType, ProgressEvent


class StreamedText:
    """The text a job streamed, per step, as a consumer should assemble it from `token` events.

    A `step.retrying` event drops that step's partial text (its retry streams the text again, or re-sends the
    stored result whole), and tokens of an attempt older than the step's latest are ignored (a stalled attempt
    can still be writing). Feed it SSE events (`apply_sse`) or stream events (`apply`).
    """

    def __init__(self) -> None:
        self.steps: dict[str, str] = {}
        self._attempt: dict[str, int] = {}

    def apply(self, event: ProgressEvent) -> None:
        """Fold one event in."""
        self.apply_raw(event.type.value, event.step, event.data)

    def apply_raw(self, type: str, step: str | None, data: dict[str, Any]) -> None:
        """Fold one event given as its parts (e.g. parsed from SSE `event:` and `data:`)."""
        key = step or ""
        attempt = int(data.get("attempt") or 1)
        if type == EventType.STEP_RETRYING.value:
            if attempt >= self._attempt.get(key, 1):
                self._attempt[key] = attempt
                self.steps[key] = ""
        elif type == EventType.TOKEN.value and attempt >= self._attempt.get(key, 1):
            self._attempt[key] = attempt
            self.steps[key] = self.steps.get(key, "") + str(data.get("delta", ""))

    @property
    def text(self) -> str:
        """All streamed text, steps in the order they first streamed."""
        return "".join(self.steps.values())


async def follow(
    redis: redis.asyncio.Redis,
    keys: RedisKeys,
    job_id: str,
    last_id: str = "0",
    block_ms: int = 1000,
    at_rest: AtRest = PLAIN,
) -> AsyncIterator[tuple[str, ProgressEvent | None]]:
    """Yield (stream id, event) as they arrive; (last id, None) after each idle `block_ms` so callers can poll.

    `at_rest` opens events sealed with GENAI_FLOW_ENCRYPTION_KEYS (`at_rest_for(settings.encryption_entries)`).
    """
    stream = keys.events(job_id)
    while True:
        batch: Any = await redis.xread({stream: last_id}, block=block_ms, count=200)
        if not batch:
            yield last_id, None
            continue
        for _name, entries in batch:
            for entry_id, fields in entries:
                last_id = entry_id
                yield entry_id, opened_event(fields, at_rest, stream)
