"""The OpenAI request shapes the simulator accepts (extra fields are allowed and ignored)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow")


class FunctionCall(_Loose):
    """A function call inside an assistant message."""

    name: str = ""
    arguments: str = ""


class ToolCallIn(_Loose):
    """A tool call an earlier assistant message made."""

    id: str = ""
    type: str = "function"
    function: FunctionCall = Field(default_factory=FunctionCall)


class Message(_Loose):
    """One chat message; content may be a string or a list of content parts."""

    role: str
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = None

    def text(self) -> str:
        """The message's text (text parts joined)."""
        if isinstance(self.content, str):
            return self.content
        if isinstance(self.content, list):
            return "\n".join(str(p.get("text", "")) for p in self.content if isinstance(p, dict))
        return ""


class FunctionDef(_Loose):
    """A function the model may call."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class Tool(_Loose):
    """A tool offered in the request."""

    type: str = "function"
    function: FunctionDef


class JsonSchemaFormat(_Loose):
    """The json_schema of a structured-output request."""

    name: str = "response"
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    strict: bool | None = None


class ResponseFormat(_Loose):
    """`response_format`: text, json_object or json_schema."""

    type: Literal["text", "json_object", "json_schema"] = "text"
    json_schema: JsonSchemaFormat | None = None


class StreamOptions(_Loose):
    """`stream_options`."""

    include_usage: bool = False


class ChatCompletionRequest(_Loose):
    """`POST /v1/chat/completions` body."""

    model: str
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    response_format: ResponseFormat | None = None
    tools: list[Tool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = None
    seed: int | None = None

    @property
    def token_limit(self) -> int | None:
        """The completion token cap, if any."""
        return self.max_completion_tokens or self.max_tokens


class EmbeddingRequest(_Loose):
    """`POST /v1/embeddings` body."""

    model: str
    input: str | list[str]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=2, le=8192)

    @property
    def texts(self) -> list[str]:
        """The inputs as a list."""
        return [self.input] if isinstance(self.input, str) else list(self.input)
