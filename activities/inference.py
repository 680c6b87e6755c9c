"""The inference activities, the only code that talks to a model: chat (streamed or not), structured, embed."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import openai
import pydantic
import redis.asyncio
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.attempt import StepContext, StepRunner
from activities.embeddings import embed_texts
from activities.errors import InvalidOutputError
from activities.events import EventPublisher
from activities.idempotency import IdempotencyStore
from activities.wire import StreamAccumulator, messages_param, response_format, tools_param, usage_from
from runtime.settings import Settings
from schemas.failures import FailureType, StepFailure
from schemas.inference import (
    ChatMessage,
    ChatRequest,
    ChatResult,
    EmbedRequest,
    EmbedResult,
    StructuredRequest,
    StructuredResult,
    ToolCall,
)
from schemas.structured import STRUCTURED_SCHEMAS


class InferenceActivities:
    """`chat`, `structured` and `embed` on `genai-inference`: idempotent, heartbeating, classified failures."""

    def __init__(
        self,
        llm: openai.AsyncOpenAI,
        redis: redis.asyncio.Redis | None,
        settings: Settings,
        embed_llm: openai.AsyncOpenAI | None = None,
    ) -> None:
        self.llm = llm
        self.embed_llm = embed_llm or llm  # GENAI_FLOW_EMBED_BASE_URL may put embeddings on another server
        self.settings = settings
        self.events = EventPublisher(redis, settings)
        store = IdempotencyStore(redis, settings) if redis is not None else None
        self.runner = StepRunner(store, self.events, settings)

    @activity.defn(name="chat")
    async def chat(self, req: ChatRequest) -> ChatResult:
        """A chat completion; with `stream` the text arrives as `token` events and every chunk heartbeats."""
        model = req.model or self.settings.chat_model

        async def compute(ctx: StepContext) -> ChatResult:
            return await (self._stream(req, model, ctx) if req.stream else self._complete(req, model, ctx))

        digest = self._digest(req.temperature, "chat", model, req.messages, req.tools, req.max_tokens)
        return await self.runner.run(req, ChatResult, compute, digest)

    @activity.defn(name="structured")
    async def structured(self, req: StructuredRequest) -> StructuredResult:
        """A completion constrained to a registered schema (strict json_schema); invalid replies are InvalidOutput."""
        schema = STRUCTURED_SCHEMAS.get(req.schema_name)
        if schema is None:
            message = f"unknown schema {req.schema_name!r} (known: {', '.join(sorted(STRUCTURED_SCHEMAS))})"
            details = StepFailure(step=req.step, type=FailureType.PERMANENT, attempts=1, last_error=message)
            raise ApplicationError(
                message, details.model_dump(mode="json"), type=FailureType.PERMANENT.value, non_retryable=True
            )
        model = req.model or self.settings.chat_model
        fmt = response_format(req.schema_name, schema)

        async def compute(ctx: StepContext) -> StructuredResult:
            params = {**_params(model, req.messages, req.temperature, req.max_tokens, ctx), "response_format": fmt}
            resp = await self.llm.chat.completions.create(**params, stream=False)
            usage = usage_from(resp.model or model, resp.usage, ctx.started)
            choice = resp.choices[0]
            if choice.finish_reason == "content_filter" or choice.message.refusal:
                raise openai.ContentFilterFinishReasonError()
            try:
                data = schema.model_validate_json(choice.message.content or "")
            except pydantic.ValidationError as err:
                reason = "truncated" if choice.finish_reason == "length" else f"{err.error_count()} error(s)"
                raise InvalidOutputError(f"{req.schema_name}: {reason}: {err}", usage.billed_tokens) from err
            return StructuredResult(data=data.model_dump(mode="json"), usage=usage)

        digest = self._digest(req.temperature, "structured", model, req.messages, fmt, req.max_tokens)
        return await self.runner.run(req, StructuredResult, compute, digest)

    @activity.defn(name="embed")
    async def embed(self, req: EmbedRequest) -> EmbedResult:
        """One vector per text, in batches of 128 per request, usage summed."""
        model = req.model or self.settings.embed_model

        async def compute(ctx: StepContext) -> EmbedResult:
            vectors, usage = await embed_texts(
                self.embed_llm,
                req.texts,
                model,
                ctx.idempotency_key,
                request_timeout_s=ctx.timeout_s,
                on_batch=lambda _batch: ctx.beat(),
            )
            return EmbedResult(vectors=vectors, usage=usage)

        return await self.runner.run(req, EmbedResult, compute, self._digest(0.0, "embed", model, req.texts))

    async def _complete(self, req: ChatRequest, model: str, ctx: StepContext) -> ChatResult:
        params = _params(model, req.messages, req.temperature, req.max_tokens, ctx, tools_param(req.tools))
        resp = await self.llm.chat.completions.create(**params, stream=False)
        choice = resp.choices[0]
        calls = [
            ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments)
            for c in choice.message.tool_calls or []
            if c.type == "function"
        ]
        return ChatResult(
            content=choice.message.content or "",
            tool_calls=calls,
            finish_reason=choice.finish_reason,
            usage=usage_from(resp.model or model, resp.usage, ctx.started),
        )

    async def _stream(self, req: ChatRequest, model: str, ctx: StepContext) -> ChatResult:
        params = _params(model, req.messages, req.temperature, req.max_tokens, ctx, tools_param(req.tools))
        stream = await self.llm.chat.completions.create(**params, stream=True, stream_options={"include_usage": True})
        acc = StreamAccumulator()
        async with stream:  # closes the connection on every exit, cancellation included
            async for chunk in stream:
                ctx.beat()  # on every chunk; rate-limited to one heartbeat per CHUNK_BEAT_S
                delta = acc.add(chunk)
                if ctx.tokens is not None:
                    await ctx.tokens.add(delta)
        if acc.finish_reason is None:
            # The connection ended early (nothing is billed for an undelivered response): a transient failure.
            raise ConnectionError("stream ended before its finish reason (truncated)")
        return ChatResult(
            content=acc.content,
            tool_calls=acc.tool_calls(),
            finish_reason=acc.finish_reason,
            usage=usage_from(acc.model or model, acc.usage, ctx.started),
        )

    def _digest(self, temperature: float, op: str, model: str, *parts: Any) -> str | None:
        """Cross-job cache key of a deterministic call (temperature 0, cache enabled); None when not cacheable."""
        if not self.settings.cross_job_cache or temperature != 0:
            return None
        payload = [op, model, *(_plain(p) for p in parts)]
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _params(
    model: str,
    messages: list[ChatMessage],
    temperature: float,
    max_tokens: int | None,
    ctx: StepContext,
    tools: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Arguments every chat completion sends: the Idempotency-Key header and the attempt's time budget included."""
    params: dict[str, Any] = {
        "model": model,
        "messages": messages_param(messages),
        "temperature": temperature,
        "extra_headers": {"Idempotency-Key": ctx.idempotency_key},
        "timeout": ctx.timeout_s,
    }
    if max_tokens is not None:
        params["max_tokens"] = max_tokens
    if tools:
        params["tools"] = tools
    return params


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    return value
