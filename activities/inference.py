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

from activities import model_api
from activities.attempt import StepContext, StepRunner
from activities.embeddings import embed_texts
from activities.errors import InvalidOutputError, invalid_output
from activities.events import EventPublisher
from activities.grounding import ground, score_floor
from activities.idempotency import IdempotencyStore
from activities.repair import repair_messages
from activities.stepcontext import max_tokens_of
from activities.wire import StreamAccumulator, chat_params, response_format, tools_param, usage_from
from runtime.logging import get_logger
from runtime.settings import Settings
from schemas.failures import FailureType, StepFailure
from schemas.inference import (
    ChatRequest,
    ChatResult,
    EmbedRequest,
    EmbedResult,
    StructuredRequest,
    StructuredResult,
    ToolCall,
)
from schemas.structured import STRUCTURED_SCHEMAS

log = get_logger(__name__)


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

        bound = max_tokens_of(req, self.settings)
        stop = [req.stop] if req.stop else []  # only calls that set it: other keys stay as they were
        digest = self._digest(req.temperature, "chat", model, req.messages, req.tools, bound, *stop)
        result = await self.runner.run(req, ChatResult, compute, digest)
        if req.grounding is None:
            return result
        # Checked after the stored reply is read, so a retry or a cache hit is checked like a fresh reply.
        grounded = ground(result.content, req.grounding, score_floor(self.settings))
        return result.model_copy(update={"grounded": grounded})

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
        fmt = response_format(req.schema_name, schema, string_bounds=self.settings.schema_string_bounds)

        async def compute(ctx: StepContext) -> StructuredResult:
            # After a rejected reply, the model sees it and its error (repair) instead of the same request again.
            messages = repair_messages(req.messages, ctx.repair)
            params = {**chat_params(model, messages, req.temperature, ctx), "response_format": fmt}
            resp = await model_api.complete(self.llm, params)
            usage = usage_from(resp.model or model, resp.usage, ctx.started)
            choice = resp.choices[0]
            if choice.finish_reason == "content_filter" or choice.message.refusal:
                raise openai.ContentFilterFinishReasonError()
            content = choice.message.content or ""
            try:
                data = schema.model_validate_json(content)
            except pydantic.ValidationError as err:
                billed = usage.billed_tokens
                raise invalid_output(
                    req.schema_name, err, choice.finish_reason, ctx.max_tokens, billed, content
                ) from err
            # A reply that ends at the bound yet validates is complete (its last token closed the JSON): kept.
            return StructuredResult(data=data.model_dump(mode="json"), usage=usage)

        bound = max_tokens_of(req, self.settings)
        digest = self._digest(req.temperature, "structured", model, req.messages, fmt, bound)
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
        params = chat_params(model, req.messages, req.temperature, ctx, tools_param(req.tools), req.stop)
        resp = await model_api.complete(self.llm, params)
        choice = resp.choices[0]
        calls = [
            ToolCall(id=c.id or "", name=c.function.name or "", arguments=c.function.arguments or "")
            for c in choice.message.tool_calls or []
            if c.type in (None, "function") and c.function is not None
        ]
        usage = usage_from(resp.model or model, resp.usage, ctx.started)
        content = choice.message.content or ""
        result = ChatResult(content=content, tool_calls=calls, finish_reason=choice.finish_reason, usage=usage)
        return _checked(req, ctx, result)

    async def _stream(self, req: ChatRequest, model: str, ctx: StepContext) -> ChatResult:
        params = chat_params(model, req.messages, req.temperature, ctx, tools_param(req.tools), req.stop)
        acc = StreamAccumulator()
        async with model_api.stream(self.llm, {**params, "stream_options": {"include_usage": True}}) as chunks:
            async for chunk in chunks:
                ctx.beat()  # on every chunk; rate-limited to one heartbeat per CHUNK_BEAT_S
                delta = acc.add(chunk)
                if ctx.tokens is not None:
                    await ctx.tokens.add(delta)
        if acc.finish_reason is None:
            # The connection ended early (nothing is billed for an undelivered response): a transient failure.
            raise ConnectionError("stream ended before its finish reason (truncated)")
        usage = usage_from(acc.model or model, acc.usage, ctx.started)
        result = ChatResult(
            content=acc.content, tool_calls=acc.tool_calls(), finish_reason=acc.finish_reason, usage=usage
        )
        return _checked(req, ctx, result)

    def _digest(self, temperature: float, op: str, model: str, *parts: Any) -> str | None:
        """Cross-job cache key of a deterministic call (temperature 0, cache enabled); None when not cacheable."""
        if not self.settings.cross_job_cache or temperature != 0:
            return None
        payload = [op, model, *(_plain(p) for p in parts)]
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _checked(req: ChatRequest, ctx: StepContext, result: ChatResult) -> ChatResult:
    """A chat result cut at max_tokens: tool calls cut short are InvalidOutput; cut text is kept and logged.

    Cut tool-call arguments are unusable JSON, so the attempt fails and the next one repairs. Cut text is still
    text the caller can use, and a streamed answer's tokens have already reached its readers: it is returned with
    `finish_reason="length"` for the caller to judge (AnswerQuestion marks its result `truncated`).
    """
    if result.finish_reason != "length":
        return result
    if result.tool_calls:
        cut = result.tool_calls[-1]
        message = f"{req.step}: tool call {cut.name} truncated at max_tokens={ctx.max_tokens}"
        raise InvalidOutputError(message, result.usage.billed_tokens, cut.arguments)
    log.warning("reply truncated at max_tokens", step=req.step, max_tokens=ctx.max_tokens, key=ctx.idempotency_key)
    return result


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, pydantic.BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    return value
