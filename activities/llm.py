"""The model client: AsyncOpenAI with retries off (Temporal retries), a timeout and a pool sized to the worker."""

from __future__ import annotations

import httpx2
import openai

from runtime.settings import Settings

CONNECT_TIMEOUT_S = 5.0


def llm_timeout(settings: Settings) -> httpx2.Timeout:
    """Per-operation timeout (connect, read, write, pool); attempts bound each call end to end as well."""
    return httpx2.Timeout(settings.inference_timeout_s, connect=min(CONNECT_TIMEOUT_S, settings.inference_timeout_s))


def make_llm(settings: Settings, base_url: str | None = None) -> openai.AsyncOpenAI:
    """An AsyncOpenAI for base_url (default `settings.llm_base_url`): max_retries=0, one connection per activity.

    The SDK's default pool stops at 1,000 connections; a worker running thousands of calls at once would queue
    inside the pool, so the limit follows `max_concurrent_activities`. Close it with `await llm.close()`.
    """
    size = settings.max_concurrent_activities
    base_url = base_url or settings.llm_base_url
    http_client = openai.DefaultAsyncHttpxClient(
        limits=httpx2.Limits(max_connections=size, max_keepalive_connections=size),
        timeout=llm_timeout(settings),
        transport=router_transport(settings, base_url),  # None without a models file: calls go to base_url as is
    )
    return openai.AsyncOpenAI(
        base_url=base_url,
        api_key=settings.llm_api_key,
        max_retries=0,
        timeout=llm_timeout(settings),
        http_client=http_client,
    )


def router_transport(settings: Settings, base_url: str) -> httpx2.AsyncBaseTransport | None:
    """The model router under the client when GENAI_FLOW_MODELS_FILE is set (activities/router.py), else None."""
    if settings.models_file is None:
        return None
    from activities.router import RouterTransport
    from runtime.limiter import Limiter
    from runtime.models_file import load_models
    from runtime.redis import redis_client

    models = load_models(settings.models_file)
    limiter = Limiter(redis_client(settings), settings.key_prefix, models.router)
    return RouterTransport(models, limiter, base_url, hold_s=settings.inference_timeout_s + 30)


def make_embed_llm(settings: Settings) -> openai.AsyncOpenAI | None:
    """A client for GENAI_FLOW_EMBED_BASE_URL when embeddings live elsewhere than chat; None when they share it."""
    if settings.embed_url == settings.llm_base_url or settings.models_file is not None:  # the file routes both
        return None
    return make_llm(settings, settings.embed_url)
