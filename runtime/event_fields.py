"""A progress event's Redis Stream entry: its JSON sealed at rest (runtime/at_rest.py) under the stream's key.

The entry keeps its two fields (`type` in the clear, for operators; `event`, the JSON, sealed when keys are set),
so writers and readers (the gateway's SSE, the CLI's follower) change only here.
"""

from __future__ import annotations

from runtime.at_rest import AtRest
from schemas.events import STREAM_FIELD, ProgressEvent


def sealed_fields(event: ProgressEvent, at_rest: AtRest, stream: str) -> dict[str, str]:
    """The stream entry of `event`, its JSON sealed for `stream`."""
    fields = event.to_stream_fields()
    fields[STREAM_FIELD] = at_rest.seal(fields[STREAM_FIELD], stream)
    return fields


def opened_event(fields: dict[str, str] | dict[bytes, bytes], at_rest: AtRest, stream: str) -> ProgressEvent:
    """The event of a stream entry (sealed or not); AtRestKeyError (a ValueError) when its key is missing."""
    plain: dict[str, str] = {}
    for key, value in fields.items():
        name = key.decode() if isinstance(key, bytes) else key
        text = value.decode() if isinstance(value, bytes) else value
        plain[name] = at_rest.open(text, stream) if name == STREAM_FIELD else text
    return ProgressEvent.from_stream_fields(plain)
