"""The simulator's FastAPI app: OpenAI-compatible routes plus /sim/ledger, /sim/reset and /healthz."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from schemas.sim import CallStatus, SimFault, SimLedger
from sim import wire
from sim.asgi import DisconnectWatcher, LedgerJSONResponse, StreamResponse
from sim.config import SimConfig
from sim.embeddings import encode
from sim.faults import HTTP_FAULTS, bad_request, error_response
from sim.generate import Completion, complete, prompt_tokens
from sim.limits import chat_over_context, embedding_over_limit
from sim.markers import armed
from sim.models import ChatCompletionRequest, EmbeddingRequest
from sim.provider import CHAT_DEFAULT_BOUND, LimitsView, Outage
from sim.schemafill import SchemaUnsatisfiable
from sim.state import MODELS, CallContext, SimState
from sim.tokens import count_tokens

log = logging.getLogger("genai_flow.sim")


def create_app(config: SimConfig | None = None) -> FastAPI:
    """A simulator app with its own state (ledger, counters, slots)."""
    state = SimState(config or SimConfig())
    app = FastAPI(title="genai-flow simulator", version="1", docs_url=None, redoc_url=None)
    app.state.sim = state

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness."""
        return {"status": "ok"}

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        """The model names the simulator advertises (any name is accepted)."""
        return wire.models(MODELS)

    @app.get("/sim/ledger", response_model=SimLedger)
    async def ledger(key: str | None = None, prefix: str | None = None) -> SimLedger:
        """Calls per key (all, one `key`, or keys starting with `prefix`) and totals since the last reset."""
        return state.ledger.snapshot(key, prefix)

    @app.post("/sim/faults")
    async def arm_fault(fault: SimFault) -> Response:
        """Arm a fault for requests whose text contains `match` (test-only: how faults reach document text)."""
        if armed(fault.match, fault.marker).unknown:
            return bad_request(f"unknown marker {fault.marker!r} (see docs/simulator.md, Markers)", "marker")
        state.faults.append(fault)
        return JSONResponse({"armed": [f.model_dump() for f in state.faults]})

    @app.get("/sim/faults")
    async def armed_faults() -> list[SimFault]:
        """The faults armed since the last reset."""
        return list(state.faults)

    @app.post("/sim/reset")
    async def reset() -> dict[str, str]:
        """Clear the ledger, the marker counters and the armed faults."""
        state.reset()
        return {"status": "reset"}

    @app.get("/sim/limits", response_model=LimitsView)
    async def limits() -> LimitsView:
        """The provider limits' windows now (--rpm / --tpm) and the calls they refused."""
        return state.provider.view()

    @app.post("/sim/outage")
    async def outage(body: Outage) -> LimitsView:
        """Answer every call (or a `rate` share) with `status` for `seconds` (outage, 429 storm); 0 ends it."""
        state.provider.start_outage(body)
        return state.provider.view()

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        """Chat completions, streamed or not, with markers, faults and latency applied."""
        parsed = await _parse(request, ChatCompletionRequest)
        if isinstance(parsed, Response):
            return parsed
        texts = [m.text() for m in parsed.messages]
        tool_args = [tc.function.arguments for m in parsed.messages for tc in (m.tool_calls or [])]
        cleaned, ctx = state.begin(
            request.headers.get("idempotency-key"),
            parsed.model,
            texts + tool_args,
            "chat",
            parsed.stream,
            await _recorded(state, request),
        )
        counted = prompt_tokens(parsed, cleaned[: len(texts)]) + (parsed.token_limit or CHAT_DEFAULT_BOUND)
        early = _refused(state, ctx, counted) or await _early_fault(state, ctx, request)
        if early is not None:
            return early
        too_long = chat_over_context(prompt_tokens(parsed, cleaned[: len(texts)]), state.config.context_window)
        if too_long is not None:
            state.ledger.finish(ctx.call, 400, fault=ctx.fault)
            return too_long
        try:
            completion = complete(parsed, cleaned[: len(texts)], ctx)
        except SchemaUnsatisfiable as err:
            state.ledger.finish(ctx.call, 400, fault=ctx.fault)
            return bad_request(str(err), "response_format")
        return await _deliver_chat(state, ctx, request, parsed, completion)

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> Response:
        """Embeddings (hashed or MiniLM), as floats or base64."""
        parsed = await _parse(request, EmbeddingRequest)
        if isinstance(parsed, Response):
            return parsed
        dim = state.embedder.dimension(parsed.dimensions)
        if parsed.dimensions and dim != parsed.dimensions:
            return bad_request(f"embedder {state.embedder.name} only produces {dim} dimensions", "dimensions")
        cleaned, ctx = state.begin(
            request.headers.get("idempotency-key"),
            parsed.model,
            parsed.texts,
            "embeddings",
            False,
            await _recorded(state, request),
        )
        early = _refused(state, ctx, sum(count_tokens(t) for t in cleaned)) or await _early_fault(state, ctx, request)
        if early is not None:
            return early
        too_long = embedding_over_limit([count_tokens(t) for t in cleaned], state.config.embed_max_tokens)
        if too_long is not None:
            state.ledger.finish(ctx.call, 400, fault=ctx.fault)
            return too_long
        watcher = DisconnectWatcher(request.receive)
        if not await watcher.acquire(state.slots):
            watcher.close()
            state.ledger.finish(ctx.call, "disconnected", fault=ctx.fault)
            return Response(status_code=499)
        try:
            vectors = await state.embedder.embed(cleaned, dim)
            waited = await watcher.sleep(state.latency.first_token(ctx.rng, ctx.markers.latency_s))
        finally:
            state.slots.release()
        tokens = sum(count_tokens(t) for t in cleaned)
        body = wire.embeddings(parsed.model, [encode(v, parsed.encoding_format) for v in vectors], tokens)
        if not waited:
            watcher.close()
            state.ledger.finish(ctx.call, "disconnected", fault=ctx.fault)
            return Response(status_code=499)
        return LedgerJSONResponse(body, state.ledger, ctx.call, tokens, 0, ctx.fault, watcher)

    return app


async def _parse(request: Request, model: type[ChatCompletionRequest] | type[EmbeddingRequest]) -> Any:
    """The validated body, or an OpenAI-shaped 400 response."""
    try:
        body = json.loads(await request.body())
        return model.model_validate(body)
    except json.JSONDecodeError as err:
        return bad_request(f"request body is not valid JSON: {err}")
    except ValidationError as err:
        first = err.errors()[0]
        return bad_request(f"{first['msg']} at {'.'.join(str(p) for p in first['loc'])}", str(first["loc"][0]))


async def _recorded(state: SimState, request: Request) -> dict[str, Any] | None:
    """The request's body for the ledger when recording requests (Starlette caches the bytes read by _parse)."""
    if not state.config.record_requests:
        return None
    body = json.loads(await request.body())
    return body if isinstance(body, dict) else {"body": body}


def _refused(state: SimState, ctx: CallContext, tokens: int) -> Response | None:
    """A 429 past the provider limits, or the outage's status; None when the call is admitted (and counted)."""
    refusal = state.provider.admit(tokens, state.config.retry_after)
    if refusal is not None:
        state.ledger.finish(
            ctx.call, refusal.status_code, fault="rate_limit" if refusal.status_code == 429 else "outage"
        )
    return refusal


async def _early_fault(state: SimState, ctx: CallContext, request: Request) -> Response | None:
    """Answer HTTP faults at once and hang the hang fault; None when the call proceeds."""
    if ctx.markers.unknown:
        log.warning("ignoring unknown simulator markers: %s", ", ".join(ctx.markers.unknown))
    if ctx.fault in HTTP_FAULTS:
        status = HTTP_FAULTS[ctx.fault]
        state.ledger.finish(ctx.call, status, fault=ctx.fault)
        message = "poisoned request (simulated [[sim:poison]])" if ctx.fault == "poison" else None
        return error_response(status, state.config.retry_after, message)
    if ctx.fault == "hang":
        # A hanging call holds no concurrency slot: it waits only for the client to give up.
        state.ledger.finish(ctx.call, "hang", fault="hang")
        watcher = DisconnectWatcher(request.receive)
        try:
            await watcher.until_gone()
        finally:
            watcher.close()
        return Response(status_code=499)
    return None


async def _deliver_chat(
    state: SimState, ctx: CallContext, request: Request, parsed: ChatCompletionRequest, completion: Completion
) -> Response:
    """Queue for a slot, wait out the latency, then send the completion (stream or not)."""
    watcher = DisconnectWatcher(request.receive)
    if not await watcher.acquire(state.slots):
        watcher.close()
        state.ledger.finish(ctx.call, "disconnected", fault=ctx.fault)
        return Response(status_code=499)
    ident = ctx.ident("chatcmpl-")
    first = state.latency.first_token(ctx.rng, ctx.markers.latency_s)
    if parsed.stream:
        include_usage = bool(parsed.stream_options and parsed.stream_options.include_usage)
        chunks = wire.stream_chunks(ident, parsed.model, completion, include_usage)
        tail = 2 if include_usage else 1
        per = state.latency.per_token()
        delays = [first] + [0.0 if i == 1 else per for i in range(1, len(chunks) - tail)] + [0.0] * tail

        def settle(outcome: CallStatus) -> None:
            state.ledger.finish(ctx.call, outcome, completion.prompt_tokens, completion.completion_tokens, ctx.fault)

        return StreamResponse(chunks, delays, completion.truncate_stream_at, settle, state.slots.release, watcher)
    try:
        waited = await watcher.sleep(state.latency.total(ctx.rng, completion.completion_tokens, ctx.markers.latency_s))
    finally:
        state.slots.release()
    if not waited:
        watcher.close()
        state.ledger.finish(ctx.call, "disconnected", fault=ctx.fault)
        return Response(status_code=499)
    body = wire.chat_completion(ident, parsed.model, completion)
    return LedgerJSONResponse(
        body, state.ledger, ctx.call, completion.prompt_tokens, completion.completion_tokens, ctx.fault, watcher
    )
