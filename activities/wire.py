"""Translation between our schemas and the OpenAI chat/embeddings wire format (no I/O)."""

from __future__ import annotations

import time
from functools import cache
from typing import TYPE_CHECKING, Any

from openai.lib._pydantic import to_strict_json_schema
from pydantic import BaseModel

from activities.model_api import WireChunk, WireUsage
from schemas.inference import ChatMessage, ToolCall, ToolSpec
from schemas.usage import Usage

if TYPE_CHECKING:
    from activities.stepcontext import StepContext


def messages_param(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    """Chat messages as the API takes them (assistant tool calls and tool results included)."""
    out: list[dict[str, Any]] = []
    for message in messages:
        item: dict[str, Any] = {"role": message.role, "content": message.content}
        if message.tool_calls:
            item["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in message.tool_calls
            ]
        if message.tool_call_id:
            item["tool_call_id"] = message.tool_call_id
        out.append(item)
    return out


def chat_params(
    model: str,
    messages: list[ChatMessage],
    temperature: float,
    ctx: StepContext,
    tools: list[dict[str, Any]] | None = None,
    stop: list[str] | None = None,
) -> dict[str, Any]:
    """Arguments every chat completion sends: Idempotency-Key, time budget, output bound, attempt-varied sampling.

    Use it for every chat-like call, so each is bounded (`ctx.max_tokens`) and repair attempts sample differently.
    """
    params: dict[str, Any] = {
        "model": model,
        "messages": messages_param(messages),
        **ctx.sampling(temperature),
        "extra_headers": {"Idempotency-Key": ctx.idempotency_key},
        "timeout": ctx.timeout_s,
    }
    if ctx.max_tokens is not None:
        # `max_tokens`, not `max_completion_tokens`: every OpenAI-compatible server (vLLM, Ollama, llama.cpp)
        # reads it, and OpenAI still accepts it for non-reasoning models.
        params["max_tokens"] = ctx.max_tokens
    if tools:
        params["tools"] = tools
    if stop:
        params["stop"] = stop
    return params


def tools_param(tools: list[ToolSpec] | None) -> list[dict[str, Any]] | None:
    """Function tools as the API takes them."""
    if not tools:
        return None
    return [
        {"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
        for t in tools
    ]


@cache
def response_format(name: str, model: type[BaseModel], string_bounds: bool = True) -> dict[str, Any]:
    """A strict json_schema response format for a pydantic model (built once per model: callers must not mutate it).

    The SDK's strict transform (every property required, no additional properties) is what strict mode demands
    of real providers; a plain `model_json_schema()` is refused there when a field has a default. String lengths
    (`maxLength`) are what stops a small model looping inside a JSON string on a grammar-enforcing server, but
    OpenAI's strict mode does not accept them: without `string_bounds` they are left out of the wire schema (the
    reply is still validated against them).
    """
    schema = to_strict_json_schema(model)
    if not string_bounds:
        schema = _without_string_bounds(schema)
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


def _without_string_bounds(schema: Any) -> Any:
    """The schema with every minLength / maxLength removed, at any depth."""
    if isinstance(schema, dict):
        return {k: _without_string_bounds(v) for k, v in schema.items() if k not in ("minLength", "maxLength")}
    if isinstance(schema, list):
        return [_without_string_bounds(v) for v in schema]
    return schema


def usage_from(model: str, usage: WireUsage | None, started: float) -> Usage:
    """Our Usage from the API's, billed in full (this call really ran)."""
    prompt = usage.prompt_tokens if usage else 0
    completion = usage.completion_tokens if usage else 0
    return Usage(
        model=model,
        prompt_tokens=prompt,
        completion_tokens=completion,
        billed_tokens=prompt + completion,
        latency_ms=(time.monotonic() - started) * 1000,
    )


class StreamAccumulator:
    """Collects a streamed completion: text, tool-call fragments (by index), finish reason, usage, model."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.calls: dict[int, dict[str, str]] = {}
        self.finish_reason: str | None = None
        self.usage: WireUsage | None = None
        self.model = ""

    def add(self, chunk: WireChunk) -> str:
        """Take one chunk; returns its text delta (possibly empty)."""
        self.model = chunk.model or self.model
        if chunk.usage is not None:
            self.usage = chunk.usage
        delta_text = ""
        for choice in chunk.choices[:1]:
            delta_text = choice.delta.content or ""
            if delta_text:
                self.text.append(delta_text)
            for frag in choice.delta.tool_calls or []:
                call = self.calls.setdefault(frag.index, {"id": "", "name": "", "arguments": ""})
                call["id"] = frag.id or call["id"]
                if frag.function is not None:
                    call["name"] += frag.function.name or ""
                    call["arguments"] += frag.function.arguments or ""
            self.finish_reason = choice.finish_reason or self.finish_reason
        return delta_text

    @property
    def content(self) -> str:
        """The text so far."""
        return "".join(self.text)

    def tool_calls(self) -> list[ToolCall]:
        """The tool calls assembled from their fragments, in index order."""
        return [ToolCall(**self.calls[i]) for i in sorted(self.calls)]
