"""Embeddings in batches: one request per EMBED_BATCH texts, usage summed (also used by ingestion activities)."""

from __future__ import annotations

import time
from collections.abc import Callable

import openai

from schemas.usage import Usage, total_usage

EMBED_BATCH = 128


def batch_key(idempotency_key_prefix: str, batch: int, batches: int) -> str:
    """Idempotency-Key of one batch: the prefix itself for a single batch, else `<prefix>#<batch>`."""
    return idempotency_key_prefix if batches == 1 else f"{idempotency_key_prefix}#{batch}"


async def embed_texts(
    llm: openai.AsyncOpenAI,
    texts: list[str],
    model: str,
    idempotency_key_prefix: str,
    *,
    batch_size: int = EMBED_BATCH,
    request_timeout_s: float | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> tuple[list[list[float]], Usage]:
    """One vector per text, in order, and the summed usage; on_batch(i) runs after each batch (e.g. to heartbeat).

    Errors propagate unclassified: callers inside activities pass them to `activities.errors.classify`.
    """
    vectors: list[list[float]] = []
    usages: list[Usage] = []
    batches = max(1, -(-len(texts) // batch_size))
    for number in range(batches):
        part = texts[number * batch_size : (number + 1) * batch_size]
        if not part:
            break
        started = time.monotonic()
        response = await llm.embeddings.create(
            model=model,
            input=part,
            extra_headers={"Idempotency-Key": batch_key(idempotency_key_prefix, number, batches)},
            timeout=request_timeout_s if request_timeout_s is not None else openai.NOT_GIVEN,
        )
        ordered = sorted(response.data, key=lambda item: item.index)
        if len(ordered) != len(part):
            raise ValueError(f"embeddings: {len(part)} texts sent, {len(ordered)} vectors returned")
        vectors.extend(list(item.embedding) for item in ordered)
        prompt = response.usage.prompt_tokens if response.usage else 0
        usages.append(
            Usage(
                model=response.model or model,
                prompt_tokens=prompt,
                billed_tokens=prompt,
                latency_ms=(time.monotonic() - started) * 1000,
            )
        )
        if on_batch is not None:
            on_batch(number)
    usage = total_usage(usages)
    return vectors, usage.model_copy(update={"model": usage.model or model})
