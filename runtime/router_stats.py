"""Each models-file endpoint's row of `genai-flow stats` and /metrics, read from the router's shared Redis state."""

from __future__ import annotations

import asyncio

import redis.asyncio

from runtime.limiter import Limiter
from runtime.models_file import load_models
from runtime.settings import Settings
from schemas.models_file import Endpoint
from schemas.stats import EndpointStats


async def endpoint_stats(client: redis.asyncio.Redis, settings: Settings) -> list[EndpointStats]:
    """One row per endpoint of GENAI_FLOW_MODELS_FILE, in the file's order; [] without the file."""
    if settings.models_file is None:
        return []
    models = load_models(settings.models_file)
    limiter = Limiter(client, settings.key_prefix, models.router)
    names = list(models.endpoints)
    return list(await asyncio.gather(*(_row(limiter, name, models.endpoints[name]) for name in names)))


async def _row(limiter: Limiter, name: str, endpoint: Endpoint) -> EndpointStats:
    state = await limiter.state(name, endpoint.window_s)
    counters = state.counters
    return EndpointStats(
        endpoint=name,
        rpm=endpoint.rpm,
        tpm=endpoint.tpm,
        max_concurrency=endpoint.max_concurrency,
        requests=state.requests,
        tokens=state.tokens,
        in_flight=state.in_flight,
        breaker=state.breaker,
        paused_s=state.paused_s,
        served=counters.get("served", 0),
        throttled=counters.get("throttled", 0),
        throttled_wait_s=counters.get("throttled_ms", 0) / 1000,
        failovers_in=counters.get("failovers_in", 0),
        provider_429=counters.get("provider_429", 0),
        failures=counters.get("failures", 0),
        breaker_opened=counters.get("breaker_opened", 0),
    )
