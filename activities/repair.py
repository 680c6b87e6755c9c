"""Repair retries: an attempt after invalid output tells the model what was wrong and samples differently.

Sending a deterministic model the same request again returns the same invalid reply (issue 12 saw five identical
attempts). So, as the instructor library does, the attempt after an `InvalidOutput` failure appends the rejected
reply as an assistant message and a user message naming the error (with its path, or the max_tokens bound that cut
it), and nudges sampling: temperature up by REPAIR_TEMPERATURE_STEP per counted failure and a per-attempt seed.
The rejected reply and its error travel to the next attempt in the heartbeat details (`activities/attempt.py`).
"""

from __future__ import annotations

from pydantic import BaseModel

from schemas.inference import ChatMessage

REPAIR_OUTPUT_CHARS = 2000  # the rejected reply is sent back at most this long (a loop need not be repeated whole)
REPAIR_TEMPERATURE_STEP = 0.2
MAX_REPAIR_TEMPERATURE = 1.0


class Repair(BaseModel):
    """The previous attempt's rejected reply and what was wrong with it."""

    output: str
    error: str


def repair_of(output: str, error: str) -> Repair:
    """A Repair with the reply clipped to REPAIR_OUTPUT_CHARS (heartbeat details and prompts stay small)."""
    clipped = output if len(output) <= REPAIR_OUTPUT_CHARS else output[:REPAIR_OUTPUT_CHARS] + " …"
    return Repair(output=clipped, error=error)


def repair_messages(messages: list[ChatMessage], repair: Repair | None) -> list[ChatMessage]:
    """`messages`, followed (when repairing) by the rejected reply and a message naming its error."""
    if repair is None:
        return messages
    ask = (
        f"Your previous reply was rejected: {repair.error}. "
        "Reply again with only a JSON object that matches the requested schema and fixes that error; "
        "keep strings short and do not repeat text."
    )
    rejected = repair.output or "(an empty reply)"  # some servers refuse an empty assistant message
    return [*messages, ChatMessage(role="assistant", content=rejected), ChatMessage(role="user", content=ask)]


def varied_sampling(temperature: float, failures: int) -> tuple[float, int | None]:
    """(temperature, seed) for an attempt after `failures` counted failures of invalid output; unchanged at 0."""
    if failures <= 0:
        return temperature, None
    nudged = max(temperature, min(MAX_REPAIR_TEMPERATURE, REPAIR_TEMPERATURE_STEP * failures))
    return round(nudged, 3), failures
