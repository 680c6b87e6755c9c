"""Request limits: the body size cap (413, checked while reading, chunked bodies too) and the per-key rate limit.

The rate limit is a fixed window in Redis: one INCR + PEXPIRE NX transaction per request, so every gateway replica
shares the count and no read-modify-write race exists. Over the limit: 429 with Retry-After = the window's rest.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass

import redis.asyncio
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.problems import ProblemError, problem_response
from runtime.logging import get_logger

log = get_logger(__name__)

_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}


@dataclass(frozen=True)
class RateLimit:
    """`limit` requests per `window_ms`, parsed from `GENAI_FLOW_RATE_LIMIT` (`100/10s`, `5/s`, `1000/m`)."""

    limit: int
    window_ms: int

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """Parse `N/[M]unit`; raises ValueError naming the setting."""
        match = re.fullmatch(r"(\d+)/(\d*)(ms|s|m|h)", text.strip())
        if not match or int(match.group(1)) < 1 or match.group(2) == "0":
            raise ValueError(f"GENAI_FLOW_RATE_LIMIT: expected e.g. 100/10s, got {text!r}")
        return cls(int(match.group(1)), int(match.group(2) or 1) * _UNITS_MS[match.group(3)])


class RateLimiter:
    """Counts requests per key id and window in Redis; `check` raises a 429 ProblemError past the limit."""

    def __init__(self, redis: redis.asyncio.Redis, prefix: str, rate: RateLimit) -> None:
        self.redis = redis
        self.prefix = prefix
        self.rate = rate

    async def check(self, owner: str) -> None:
        """Count one request of `owner`; 429 with Retry-After when its window is full."""
        now_ms = int(time.time() * 1000)
        window = now_ms // self.rate.window_ms
        key = f"{self.prefix}:ratelimit:{owner}:{window}"
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.incr(key)
                pipe.pexpire(key, self.rate.window_ms, nx=True)
                count, _ = await pipe.execute()
        except (RedisError, OSError) as err:
            # Fail open: a Redis outage must not take the API down with it (readyz reports Redis).
            log.warning("rate limit not enforced: redis unavailable", error=str(err))
            return
        if int(count) > self.rate.limit:
            rest_ms = (window + 1) * self.rate.window_ms - now_ms
            retry_after = str(max(1, math.ceil(rest_ms / 1000)))
            raise ProblemError(
                429,
                f"rate limit of {self.rate.limit} requests per {self.rate.window_ms / 1000:g} s exceeded",
                headers={"Retry-After": retry_after},
            )


class BodySizeLimit:
    """ASGI middleware: 413 for a body over `max_bytes`, by Content-Length up front or by counting what arrives."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._reject(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            # FastAPI re-raises an HTTPException from the body read as is, so the problem handler answers 413.
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise HTTPException(413, f"request body larger than {self.max_bytes} bytes")
            return message

        await self.app(scope, counted, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(413, f"request body larger than {self.max_bytes} bytes")
        await response(scope, receive, send)
