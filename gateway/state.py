"""The gateway's shared state (settings, keys, Redis, the one client) and the FastAPI dependencies built on it."""

from __future__ import annotations

import asyncio
import secrets as secrets_module
from typing import Annotated

import redis.asyncio
from fastapi import Depends, Request

from gateway.auth import Caller, KeyRing, bearer_or_basic
from gateway.codec_owners import JobOwners
from gateway.limits import RateLimit, RateLimiter
from gateway.problems import ProblemError
from runtime.logging import get_logger
from runtime.redis import redis_client
from runtime.server_secret import Signer, stored_secret
from runtime.settings import Settings, revealed
from starter.client import GenAIFlowClient

log = get_logger(__name__)


class Gateway:
    """Everything a request handler needs; one per app, created at start-up, closed at shutdown."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keys = KeyRing(settings.api_key_values, revealed(settings.admin_keys))
        secrets = [s.encode() for s in revealed(settings.server_secret)] or [_home_secret(settings)]
        self.events_signer = Signer(secrets, "events")
        self.session_signer = Signer(secrets, "session")
        self.csrf_signer = Signer(secrets, "csrf")
        self.job_owners = JobOwners()  # for /codec/decode: which key owns the job a payload names
        # SSE comment interval; also how often an idle stream checks whether its run ended without an event.
        self.keepalive_s = keepalive_s = settings.sse_keepalive_s
        self.redis = redis_client(settings)
        # Blocking XREADs hold their connection for up to keepalive_s: a client whose socket timeout outlasts them.
        self.stream_redis = redis.asyncio.Redis.from_url(
            settings.redis_url, decode_responses=True, socket_connect_timeout=5, socket_timeout=keepalive_s + 10
        )
        rate = RateLimit.parse(settings.rate_limit) if settings.rate_limit else None
        self.limiter = RateLimiter(self.redis, settings.key_prefix, rate) if rate else None
        self._flow: GenAIFlowClient | None = None
        self._connecting = asyncio.Lock()

    async def flow(self) -> GenAIFlowClient:
        """The client (connected on first use, so the gateway starts and reports readiness while Temporal is away)."""
        if self._flow is None:
            async with self._connecting:
                if self._flow is None:
                    try:
                        self._flow = await GenAIFlowClient.connect(self.settings)
                    except RuntimeError as err:
                        raise ProblemError(503, f"Temporal is unreachable: {err}", {"Retry-After": "5"}) from None
        return self._flow

    async def close(self) -> None:
        """Release connections."""
        if self._flow is not None:
            await self._flow.aclose()
        await self.redis.aclose()
        await self.stream_redis.aclose()


def _home_secret(settings: Settings) -> bytes:
    """The server secret kept in GENAI_FLOW_HOME; a per-process one (tokens die with it) when the home is read-only."""
    try:
        return stored_secret(settings.home)
    except OSError as err:
        log.warning("server secret not kept (set GENAI_FLOW_SERVER_SECRET)", home=str(settings.home), error=str(err))
        return secrets_module.token_bytes(32)


async def gateway_of(request: Request) -> Gateway:
    """The app's Gateway (async: FastAPI runs a plain `def` dependency in its thread pool, a hop per request)."""
    gw: Gateway = request.app.state.gateway
    return gw


GatewayDep = Annotated[Gateway, Depends(gateway_of)]


async def authenticated(request: Request, gw: GatewayDep) -> Caller:
    """The caller of this request (401 without a known key), counted against its rate limit (429)."""
    caller = gw.keys.match(bearer_or_basic(request.headers.get("authorization")))
    if caller is None:
        raise ProblemError(
            401, "missing or unknown API key (Authorization: Bearer <key>)", {"WWW-Authenticate": "Bearer"}
        )
    await rate_limited(gw, caller)
    return caller


async def rate_limited(gw: Gateway, caller: Caller) -> None:
    """Count one request of `caller` against its key's rate limit (429 past it); no-op when the limit is off."""
    if gw.limiter is not None:
        await gw.limiter.check(caller.key_id)


CallerDep = Annotated[Caller, Depends(authenticated)]
