"""The model router: every model call of a worker goes through it when GENAI_FLOW_MODELS_FILE is set.

It sits under the OpenAI client as its HTTP transport, so the activities, the never-pay-twice lock and the classifier
see ordinary responses. For each request it walks the logical model's endpoints in order (docs/router.md):

1. reserve one request and the request's token estimate (activities/router_wire.py) on the endpoint's shared limiter
   (runtime/limiter.py). No capacity within `failover_after_s`, or the breaker open: the next endpoint. No endpoint
   has capacity: the provider is not called; a wait up to `wait_in_call_s` is slept here, a longer one is answered
   with a 429 whose `retry-after-ms` is the time until capacity, which the classifier turns into `Throttled` with
   that `next_retry_delay` (never counted toward the 5 attempts).
2. send it there, with the endpoint's own model name and API key and the same Idempotency-Key (so a provider that
   deduplicates never bills twice across endpoints). Refused connections, 5xx and 429 go to the next endpoint at once;
   a 429 also pauses the endpoint for every worker (its Retry-After / x-ratelimit-reset-*, else `cooldown_s`).
3. settle the reservation to what the provider counted, feed the breaker, and name the endpoint that served the call
   (`served_by`), so the step's usage records it.

Redis unreachable: fail closed (a 429 after `unavailable_retry_s`). Bulk work (ingestion's `embed_chunks`) may fill
only `bulk_share` of an endpoint's limits, so interactive calls always find the rest free, and that part is shared
fairly (the limiter's `BulkOwner`): n owner keys in the window hold at most 1/n of it each, and a key's m jobs at most
1/m of the key's part each. `embed_chunks` names its job's owner key with `owned_by`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import os
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
from temporalio import activity

from activities.router_wire import counted_tokens, estimate_tokens, provider_pause
from runtime.limiter import KEEP, BulkOwner, Grant, Limiter, LimiterUnavailable
from runtime.logging import get_logger
from schemas.models_file import Endpoint, ModelsFile

log = get_logger(__name__)

BULK_ACTIVITIES = frozenset({"embed_chunks"})
_TAIL = 16_384  # bytes of a stream kept to read its usage (the last chunk carries it)


@dataclass
class Served:
    """Which endpoint and model served the calls of one attempt (filled in by the transport)."""

    calls: list[tuple[str, str]] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        """The endpoint that served every call, `mixed` when several did, `` when none went through the router."""
        names = {name for name, _ in self.calls}
        return names.pop() if len(names) == 1 else ("mixed" if names else "")


_SERVED: contextvars.ContextVar[Served | None] = contextvars.ContextVar("genai_flow_served", default=None)
_OWNER: contextvars.ContextVar[str] = contextvars.ContextVar("genai_flow_owner", default="")


@contextlib.contextmanager
def served_by() -> Iterator[Served]:
    """Collect the endpoints the model calls inside this block were served by."""
    served = Served()
    token = _SERVED.set(served)
    try:
        yield served
    finally:
        _SERVED.reset(token)


@contextlib.contextmanager
def owned_by(owner: str) -> Iterator[None]:
    """Name the owner key id of the job whose model calls run inside this block ('' for jobs without a key)."""
    token = _OWNER.set(owner)
    try:
        yield
    finally:
        _OWNER.reset(token)


def _throttled(wait_s: float, message: str) -> httpx2.Response:
    """The 429 the router answers itself: the classifier reads `retry-after-ms` as the Throttled delay."""
    body = {"error": {"message": f"router: {message}", "type": "rate_limit_error", "code": "router_throttled"}}
    headers = {"retry-after-ms": str(max(1, round(wait_s * 1000))), "x-genai-flow-router": "throttled"}
    return httpx2.Response(429, headers=headers, json=body)


def _bulk() -> bool:
    return activity.in_activity() and activity.info().activity_type in BULK_ACTIVITIES


def _bulk_owner() -> BulkOwner | None:
    """Whose bulk call this is (bulk work shares an endpoint fairly by owner key, then job); None for interactive."""
    return BulkOwner(_OWNER.get(), activity.info().workflow_id or "") if _bulk() else None


class RouterTransport(httpx2.AsyncBaseTransport):
    """An httpx transport that routes OpenAI API requests across the models file's endpoints (module docstring)."""

    def __init__(self, models: ModelsFile, limiter: Limiter, client_base: str, hold_s: float) -> None:
        self.models = models
        self.limiter = limiter
        self.client_path = httpx2.URL(client_base).path.rstrip("/")
        self.hold_s = hold_s
        self.inner = httpx2.AsyncHTTPTransport(limits=httpx2.Limits(max_connections=None))

    async def aclose(self) -> None:
        """Close the pooled connections and the limiter's Redis client."""
        await self.inner.aclose()
        await self.limiter.redis.aclose()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Route one request (see the module docstring)."""
        body = json.loads(request.content or b"{}")
        logical = str(body.get("model", ""))
        targets = self.models.route(logical)
        if not targets:
            message = f"model {logical!r} is not in the models file (listed: {', '.join(sorted(self.models.models))})"
            return httpx2.Response(404, json={"error": {"message": message, "type": "invalid_request_error"}})
        path = request.url.path.removeprefix(self.client_path)
        estimate = estimate_tokens(body)
        # A short wait is slept here (the attempt keeps heartbeating); a longer one frees the slot (Throttled).
        give_up = time.monotonic() + self.models.router.wait_in_call_s
        while True:
            response, wait = await self._route(request, body, targets, path, estimate)
            if wait is None or time.monotonic() + wait > give_up:
                return response
            await asyncio.sleep(wait)

    async def _route(
        self,
        request: httpx2.Request,
        body: dict[str, Any],
        targets: list[tuple[str, Endpoint, str]],
        path: str,
        estimate: int,
    ) -> tuple[httpx2.Response, float | None]:
        """One walk over the endpoints: (the response, None), or (a throttled response, the wait for capacity)."""
        waits: list[tuple[float, str]] = []
        failed: httpx2.Response | None = None  # the last endpoint's own error, returned when no other serves
        for i, (name, endpoint, model) in enumerate(targets):
            try:
                grant = await self.limiter.reserve(name, self._share(endpoint), estimate, self.hold_s, _bulk_owner())
            except LimiterUnavailable as err:
                log.warning("router fails closed", endpoint=name, error=str(err))
                return _throttled(self.models.router.unavailable_retry_s, f"limiter unavailable ({err})"), None
            if not grant.granted:
                waits.append((grant.wait_s, f"{name} {grant.reason}"))
                if grant.reason != "open" and grant.wait_s <= self.models.router.failover_after_s:
                    break  # a short wait here beats another endpoint
                continue
            if i > 0:
                await self.limiter.count(name, "failovers_in")
            final = i == len(targets) - 1
            response, done = await self._send(request, body, (name, endpoint, model), path, grant, final)
            if done:
                return response, None
            failed = response
        if failed is not None and not waits:
            return failed, None
        wait = min(waits)[0] if waits else self.models.router.unavailable_retry_s
        return _throttled(wait, f"no capacity ({', '.join(w for _, w in waits)}); capacity in {wait:.1f} s"), wait

    def _share(self, endpoint: Endpoint) -> Endpoint:
        """The endpoint's limits as this call may use them: bulk work gets `bulk_share` of each."""
        if not _bulk():
            return endpoint

        def part(limit: int | None) -> int | None:
            return None if limit is None else max(1, int(limit * self.models.router.bulk_share))

        return endpoint.model_copy(
            update={
                "rpm": part(endpoint.rpm),
                "tpm": part(endpoint.tpm),
                "max_concurrency": part(endpoint.max_concurrency),
            }
        )

    async def _send(
        self,
        request: httpx2.Request,
        body: dict[str, Any],
        target: tuple[str, Endpoint, str],
        path: str,
        grant: Grant,
        final: bool,
    ) -> tuple[httpx2.Response, bool]:
        """Send to one endpoint: (response, True) to return it, (its error, False) to try the next endpoint."""
        name, endpoint, model = target
        outgoing = self._rewrite(request, body, endpoint, model, path)
        try:
            response = await self.inner.handle_async_request(outgoing)
        except httpx2.ConnectError as err:  # never reached the provider: nothing was counted there
            log.warning("endpoint refused the connection", endpoint=name, error=str(err))
            await self.limiter.settle(name, grant, None, "fail")
            if final:
                raise
            return httpx2.Response(502), False
        except BaseException:  # a timeout or a cancelled call: it reached the provider, which may have counted it
            with contextlib.suppress(LimiterUnavailable):
                await self.limiter.settle(name, grant, KEEP, "fail")
            raise
        status = response.status_code
        if status == 429 or status >= 500:
            payload = await _read(response)
            if status == 429:
                pause = provider_pause(response.headers) or self.models.router.cooldown_s
                await self.limiter.pause(name, pause)
            await self.limiter.settle(name, grant, None, "fail" if status >= 500 else "none")
            log.warning("endpoint failed the call", endpoint=name, status=status)
            return httpx2.Response(status, headers=response.headers, content=payload), final
        if status >= 400:
            await self.limiter.settle(name, grant, None, "none")
            return response, True
        self._note(name, model)
        if body.get("stream"):
            stream = _SettlingStream(response.stream, self, name, grant, body, endpoint)
            return httpx2.Response(
                status, headers=response.headers, stream=stream, extensions=response.extensions
            ), True
        payload = await _read(response)
        counted = counted_tokens(body, payload, endpoint.count_output_bound)
        await self.limiter.settle(name, grant, counted, "ok")
        return httpx2.Response(status, headers=response.headers, content=payload, extensions=response.extensions), True

    def _note(self, name: str, model: str) -> None:
        if (served := _SERVED.get()) is not None:
            served.calls.append((name, model))

    def _rewrite(
        self, request: httpx2.Request, body: dict[str, Any], endpoint: Endpoint, model: str, path: str
    ) -> httpx2.Request:
        """The request for one endpoint: its URL, its model name, its API key; every other header as sent."""
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        if endpoint.api_key_env:
            headers["authorization"] = f"Bearer {os.environ.get(endpoint.api_key_env, '')}"
        content = request.content if model == body.get("model") else json.dumps({**body, "model": model}).encode()
        url = httpx2.URL(endpoint.url + path, params=request.url.params)
        return httpx2.Request(request.method, url, headers=headers, content=content, extensions=request.extensions)


async def _read(response: httpx2.Response) -> bytes:
    try:
        return await response.aread()
    finally:
        await response.aclose()


class _SettlingStream(httpx2.AsyncByteStream):
    """A streamed response passed through as it arrives; settled to its usage (last chunk) when it closes."""

    def __init__(
        self,
        inner: Any,
        router: RouterTransport,
        name: str,
        grant: Grant,
        body: dict[str, Any],
        endpoint: Endpoint,
    ) -> None:
        self.inner, self.router, self.name, self.grant = inner, router, name, grant
        self.body, self.endpoint = body, endpoint
        self.tail = b""
        self.settled = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.inner:
            self.tail = (self.tail + chunk)[-_TAIL:]
            yield chunk

    async def aclose(self) -> None:
        try:
            await self.inner.aclose()
        finally:
            if not self.settled:
                self.settled = True
                counted = counted_tokens(self.body, self.tail, self.endpoint.count_output_bound)
                with contextlib.suppress(LimiterUnavailable):
                    await self.router.limiter.settle(self.name, self.grant, counted, "ok")
