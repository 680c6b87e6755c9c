"""Request limits: the body size cap (413, checked while reading, chunked bodies too) and the per-key rate limit.

The rate limit is a moving (sliding-log) window in Redis, from the `limits` library: one atomic Lua call per request
keeps each key's last `limit` request times, so every gateway replica shares them and no key ever gets more than
`limit` requests in any `window` (a fixed window lets up to twice the limit through around its edge). Over the limit:
429 with Retry-After = when the oldest of those requests leaves the window.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from dataclasses import dataclass

import redis.asyncio
from limits import RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.problems import ProblemError, problem_response
from runtime.logging import get_logger

log = get_logger(__name__)

_UNITS_S = {"s": 1, "m": 60, "h": 3600}
CHECK_TIMEOUT_S = 0.5  # a stalled Redis costs a request at most this long before the limit is skipped


@dataclass(frozen=True)
class RateLimit:
    """`limit` requests per `window_s`, parsed from `GENAI_FLOW_RATE_LIMIT` (`100/10s`, `5/s`, `1000/m`)."""

    limit: int
    window_s: int

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """Parse `N/[M]unit` (unit s, m or h); raises ValueError naming the setting."""
        match = re.fullmatch(r"(\d+)/(\d*)(s|m|h)", text.strip())
        if not match or int(match.group(1)) < 1 or match.group(2) == "0":
            raise ValueError(f"GENAI_FLOW_RATE_LIMIT: expected e.g. 100/10s, got {text!r}")
        return cls(int(match.group(1)), int(match.group(2) or 1) * _UNITS_S[match.group(3)])


class RateLimiter:
    """Counts requests per key id in a moving window in Redis; `check` raises a 429 ProblemError past the limit."""

    def __init__(self, client: redis.asyncio.Redis, prefix: str, rate: RateLimit) -> None:
        self.rate = rate
        self.item = RateLimitItemPerSecond(rate.limit, rate.window_s, namespace="ratelimit")
        # The gateway's own pool (its URL, timeouts and health checks); the URI only names the backend to `limits`.
        # `connection_pool` is a documented option of RedisStorage that its `**options` annotation leaves out.
        storage = RedisStorage(
            "async+redis://",
            implementation="redispy",
            key_prefix=prefix,
            wrap_exceptions=True,
            connection_pool=client.connection_pool,  # type: ignore[arg-type]
        )
        self._strategy = MovingWindowRateLimiter(storage)

    async def check(self, owner: str, cost: int = 1) -> None:
        """Count `cost` requests of `owner`; 429 with Retry-After when its window cannot take them."""
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_S):
                if await self._strategy.hit(self.item, owner, cost=cost):
                    return
                stats = await self._strategy.get_window_stats(self.item, owner)
        except (StorageError, RedisError, OSError, TimeoutError) as err:
            # Fail open, and fast: a Redis outage or stall must not take the API down with it (readyz reports Redis).
            log.warning("rate limit not enforced: redis unavailable", error=str(err) or type(err).__name__)
            return
        retry_after = str(max(1, math.ceil(stats.reset_time - time.time())))
        raise ProblemError(
            429,
            f"rate limit of {self.rate.limit} requests per {self.rate.window_s} s exceeded",
            headers={"Retry-After": retry_after},
        )


class BodySizeLimit:
    """ASGI middleware: 413 for a body over `max_bytes`, by Content-Length up front or by counting what arrives."""

    def __init__(self, app: ASGIApp, max_bytes: int, per_path: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.per_path = per_path or {}  # paths with a limit of their own (document uploads)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope.get("path", ""), self.max_bytes)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._reject(scope, receive, send, limit)
            return
        seen = 0

        async def counted() -> Message:
            # FastAPI re-raises an HTTPException from the body read as is, so the problem handler answers 413.
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise HTTPException(413, f"request body larger than {limit} bytes")
            return message

        await self.app(scope, counted, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = problem_response(413, f"request body larger than {limit} bytes")
        await response(scope, receive, send)
