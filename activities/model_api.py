"""Chat completions read into lean models, through the openai client's HTTP layer (its auth, timeouts, errors).

The SDK's typed responses cost more CPU than the rest of a model call's client side: ~2 ms per completion and
~4 ms per streamed answer on this project's benchmark machine, spent building its full pydantic types field by
field in Python and transforming the request. A reply is read once, by a few lines, so the models below keep only
the fields we read and are validated straight from the JSON bytes. Requests and failures stay the SDK's own:
`post` with `cast_to=httpx2.Response` is its documented way to call an endpoint directly, a non-2xx answer still
raises its `APIStatusError`, a dropped connection its `APIConnectionError`; a body that is not a completion raises
its `APIResponseValidationError` (a transient failure, like a malformed response read by the SDK).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar, cast

import httpx2
import openai
import pydantic
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from openai._types import RequestOptions

CHAT_PATH = "/chat/completions"
# chat_params' keys that are request options, not body fields.
_OPTION_KEYS = ("extra_headers", "timeout")


class _Wire(BaseModel):
    """A provider's JSON: unknown fields ignored, missing optional ones None (servers differ in what they send)."""

    model_config = ConfigDict(extra="ignore")


class WireUsage(_Wire):
    """Token counts of one call."""

    prompt_tokens: int = 0
    completion_tokens: int = 0


class WireFunction(_Wire):
    """A function call, whole or a streamed fragment."""

    name: str | None = None
    arguments: str | None = None


class WireToolCall(_Wire):
    """A tool call, whole (completions) or a fragment by index (streamed deltas)."""

    index: int = 0
    id: str | None = None
    type: str | None = None
    function: WireFunction | None = None


class WireMessage(_Wire):
    """A completion's message, or a streamed chunk's delta."""

    content: str | None = None
    refusal: str | None = None
    tool_calls: list[WireToolCall] | None = None


class WireChoice(_Wire):
    """One choice: `message` in a completion, `delta` in a streamed chunk."""

    finish_reason: str | None = None
    message: WireMessage = Field(default_factory=WireMessage)
    delta: WireMessage = Field(default_factory=WireMessage)


class WireCompletion(_Wire):
    """A whole chat completion: at least one choice."""

    model: str | None = None
    choices: list[WireChoice] = Field(min_length=1)
    usage: WireUsage | None = None


class WireChunk(_Wire):
    """One streamed chunk; the last one may carry only usage, and a server may send an error instead."""

    model: str | None = None
    choices: list[WireChoice] = Field(default_factory=list)
    usage: WireUsage | None = None
    error: Any = None


W = TypeVar("W", bound=_Wire)


async def complete(llm: openai.AsyncOpenAI, params: Mapping[str, Any]) -> WireCompletion:
    """One chat completion for `chat_params`-style params (plus any body fields), not streamed."""
    body, options = _split(params)
    response = await llm.post(CHAT_PATH, body={**body, "stream": False}, cast_to=httpx2.Response, options=options)
    return _read(WireCompletion, response, response.content)


@asynccontextmanager
async def stream(llm: openai.AsyncOpenAI, params: Mapping[str, Any]) -> AsyncIterator[AsyncIterator[WireChunk]]:
    """A streamed chat completion's chunks; the connection is closed on every exit, cancellation included."""
    body, options = _split(params)
    # With cast_to=httpx2.Response the SDK returns the response unread whatever stream_cls says (typed for mypy).
    sent = await llm.post(
        CHAT_PATH,
        body={**body, "stream": True},
        cast_to=httpx2.Response,
        options=options,
        stream=True,
        stream_cls=openai.AsyncStream[httpx2.Response],
    )
    response = cast(httpx2.Response, sent)
    try:
        yield _chunks(response)
    finally:
        await response.aclose()


async def _chunks(response: httpx2.Response) -> AsyncIterator[WireChunk]:
    """Server-sent events' data as chunks, until `[DONE]`; the body is read to its end either way.

    Reading past `[DONE]` lets the connection go back to the pool: closing a response with bytes left unread
    closes its connection, and the next call would pay for a new one.
    """
    data: list[str] = []
    done = False
    async for line in response.aiter_lines():
        if done:
            continue
        if line.startswith("data:"):
            data.append(line[6:] if line.startswith("data: ") else line[5:])
            continue
        if line or not data:  # other fields (event:, id:, comments) carry nothing we read
            continue
        payload, data = "\n".join(data), []
        done = payload == "[DONE]"
        if not done:
            yield _chunk(response, payload)
    if data and (payload := "\n".join(data)) != "[DONE]":  # a last event without its blank line
        yield _chunk(response, payload)


def _chunk(response: httpx2.Response, payload: str) -> WireChunk:
    chunk = _read(WireChunk, response, payload)
    if chunk.error:  # an error reported inside the stream (the SDK raises APIError for these too)
        message = chunk.error.get("message") if isinstance(chunk.error, dict) else None
        raise openai.APIError(str(message or chunk.error), response.request, body=chunk.error)
    return chunk


def _read(model: type[W], response: httpx2.Response, payload: str | bytes) -> W:
    try:
        return model.model_validate_json(payload)
    except pydantic.ValidationError as err:  # not a completion: the provider's fault, not the model's output
        text = payload.decode(errors="replace") if isinstance(payload, bytes) else payload
        raise openai.APIResponseValidationError(
            response, text[:500], message=f"not a chat completion: {err.errors()[0]['msg']}"
        ) from err


def _split(params: Mapping[str, Any]) -> tuple[dict[str, Any], RequestOptions]:
    """(JSON body, request options): headers and timeout go to the SDK's options, the rest is the body."""
    body = {k: v for k, v in params.items() if k not in _OPTION_KEYS}
    options: RequestOptions = {"headers": dict(params.get("extra_headers") or {})}
    if params.get("timeout") is not None:
        options["timeout"] = params["timeout"]
    return body, options
