"""Inputs and results of the inference activities (the only code that talks to a model)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from schemas.grounded import GroundedAnswer, GroundingInput
from schemas.usage import Usage


class ChatMessage(BaseModel):
    """One message of a chat completion request."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str | None = None
    tool_call_id: str | None = None
    tool_calls: list[ToolCall] | None = None


class ToolSpec(BaseModel):
    """A function the model may call."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class ToolCall(BaseModel):
    """A function call the model asked for."""

    id: str
    name: str
    arguments: str


class InferenceCall(BaseModel):
    """What every model call carries: the step it belongs to (its idempotency key is workflow id/step[/index])."""

    step: str
    index: int | None = None
    model: str | None = None
    emit_events: bool = True
    job_id: str | None = None  # whose event stream gets step/token events; defaults to the calling workflow's id


class ChatRequest(InferenceCall):
    """A chat completion, streamed (token events, heartbeats per chunk) or not."""

    messages: list[ChatMessage]
    temperature: float = 0.0
    max_tokens: int | None = None
    stream: bool = False
    tools: list[ToolSpec] | None = None
    stop: list[str] | None = Field(None, max_length=4, description="Sequences that end the reply (up to 4).")
    grounding: GroundingInput | None = Field(None, description="Check the reply against these sources.")


class ChatResult(BaseModel):
    """A chat completion's text or tool calls, with its usage."""

    content: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    finish_reason: str | None = None
    usage: Usage
    grounded: GroundedAnswer | None = Field(None, description="The checked answer, when the request asked for it.")


class StructuredRequest(InferenceCall):
    """A chat completion whose output must validate against a named schema (response_format json_schema)."""

    messages: list[ChatMessage]
    schema_name: str
    temperature: float = 0.0
    max_tokens: int | None = None


class StructuredResult(BaseModel):
    """Schema-valid structured output, as a plain dict the caller validates into its model."""

    data: dict[str, Any]
    usage: Usage


class EmbedRequest(InferenceCall):
    """Embed a few texts (questions); bulk embedding of documents happens inside ingestion activities."""

    texts: list[str]


class EmbedResult(BaseModel):
    """One vector per input text."""

    vectors: list[list[float]]
    usage: Usage


ChatMessage.model_rebuild()
