"""The model router's limiter and circuit breaker: one atomic Lua script per operation, shared by every worker.

Per endpoint, under `<GENAI_FLOW_KEY_PREFIX>:router:<endpoint>:`, Redis keeps the sliding 60 s window of reservations
(`win`, `tok`, `total`), the calls in flight (`conc`), a provider-ordered pause (`pause`), the breaker (`open`,
`probe`, `fails`), counters (`stats`) and the bulk shares (`own`, `owntot`, `jobtot`). Each operation runs as one
script (runtime/limiter.lua), so two workers on two hosts can never both take the last slot, and the clock is the
Redis server's, not the workers'.

`reserve` takes one request and an estimate of its tokens on the RPM/TPM windows and one concurrency slot, or says
how long until capacity (bulk calls, given as `bulk`, share the TPM fairly between owner keys, then between a key's
jobs); `settle` replaces the estimate with what
the provider counted, frees the slot and feeds the breaker. Redis unreachable is `LimiterUnavailable`: the router
fails closed on it (waits, never pays).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio
from redis.exceptions import RedisError

from runtime.keys import RedisKeys
from schemas.models_file import Endpoint, RouterOptions

WINDOW_MS = 60_000
KEEP = -2  # settle's `tokens` for a call the provider may have counted but did not report: the estimate stays
SCRIPT = (Path(__file__).with_name("limiter.lua")).read_text(encoding="utf-8")
_PARTS = ("win", "tok", "total", "conc", "pause", "open", "probe", "fails", "stats", "own", "owntot", "jobtot")


class LimiterUnavailable(RuntimeError):
    """Redis did not answer: no call may go out (fail closed)."""


@dataclass(frozen=True)
class Grant:
    """The outcome of `reserve`: granted, or how long to wait and why (rpm, tpm, concurrency, paused, open)."""

    granted: bool
    wait_s: float = 0.0
    reason: str = "ok"
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class BulkOwner:
    """Whose bulk call this is: the job's owner key id ('' for jobs without one, which share one part) and the job."""

    key: str
    job: str


@dataclass(frozen=True)
class EndpointState:
    """An endpoint's use now: requests and tokens in the last 60 s, calls in flight, breaker, pause left, counters."""

    requests: int
    tokens: int
    in_flight: int
    breaker: str
    paused_s: float
    counters: dict[str, int]


class Limiter:
    """Reserve, settle, pause and read endpoints' shared state (see the module docstring)."""

    def __init__(self, redis_client: redis.asyncio.Redis, key_prefix: str, options: RouterOptions) -> None:
        self.redis = redis_client
        self.prefix = key_prefix
        self.options = options
        self.script = redis_client.register_script(SCRIPT)

    def keys(self, endpoint: str) -> list[str]:
        """The keys of one endpoint, in the script's order."""
        keys = RedisKeys(self.prefix)
        return [keys.router(endpoint, part) for part in _PARTS]

    async def _run(self, endpoint: str, *args: Any) -> list[Any]:
        try:
            return list(await self.script(keys=self.keys(endpoint), args=list(args)))
        except (RedisError, OSError) as err:
            raise LimiterUnavailable(f"the router's limiter cannot reach Redis: {err}") from err

    async def reserve(
        self, name: str, endpoint: Endpoint, tokens: int, hold_s: float, bulk: BulkOwner | None = None
    ) -> Grant:
        """One request and `tokens` on the endpoint's windows and a slot held at most `hold_s`, or the wait.

        A `bulk` call also shares the TPM fairly: with n owner keys holding bulk tokens in the window none may hold
        more than tpm / n, and within a key with m jobs none more than the key's part / m (refused with reason
        `share` until the key's, or the job's, oldest call leaves the window)."""
        grant_id = uuid.uuid4().hex
        ok, wait_ms, reason = await self._run(
            name, "reserve", grant_id, max(0, tokens), endpoint.rpm or 0, endpoint.tpm or 0,
            endpoint.max_concurrency or 0, int(endpoint.window_s * 1000), max(1000, int(hold_s * 1000)),
            "1" if bulk else "0", bulk.key if bulk else "", bulk.job if bulk else "",
        )  # fmt: skip
        return Grant(bool(int(ok)), int(wait_ms) / 1000, str(reason), grant_id)

    async def settle(self, name: str, grant: Grant, tokens: int | None, outcome: str) -> bool:
        """Count `tokens` (None: the provider never saw the call; KEEP: the estimate) and feed the breaker; True when
        the breaker just opened."""
        o = self.options
        _ok, _ms, what = await self._run(
            name, "settle", grant.id, -1 if tokens is None else tokens, outcome,
            int(o.breaker_window_s * 1000), o.breaker_failures, int(o.breaker_open_s * 1000),
        )  # fmt: skip
        return str(what) == "opened"

    async def pause(self, name: str, seconds: float) -> float:
        """Pause the endpoint for every worker at least `seconds` (never shortening a longer pause); the pause left."""
        _ok, ms, _what = await self._run(name, "pause", max(1, int(seconds * 1000)))
        return int(ms) / 1000

    async def count(self, name: str, counter: str) -> None:
        """Add one to a counter of the endpoint (e.g. `failovers`)."""
        await self._run(name, "count", counter)

    async def state(self, name: str, window_s: float = WINDOW_MS / 1000) -> EndpointState:
        """The endpoint's use now (read-only apart from dropping expired entries)."""
        requests, tokens, in_flight, breaker, paused_ms, flat = await self._run(name, "state", int(window_s * 1000))
        counters = {str(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}
        return EndpointState(int(requests), int(tokens), int(in_flight), str(breaker), int(paused_ms) / 1000, counters)
