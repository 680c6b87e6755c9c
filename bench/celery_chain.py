"""B2's baseline: the answer pipeline's four steps as a plain Celery chain, broker and results on Redis.

`answer_chain(job_id, question, collection)` is retrieve | chord(summarize, extract_entities) | generate_answer:
the same model calls as AnswerQuestion (the same prompts, structured-output schemas and streamed answer, against
the same simulator) and the same Chroma calls, with none of the durability around them (no idempotency lock,
no progress events, no ledger). Configured from the project's settings (REDIS_URL, GENAI_FLOW_CHROMA_URL, the
simulator), so a worker started with the bench's environment serves the bench's stack:
`celery -A bench.celery_chain worker --pool threads --concurrency N -Q <queue_name()>`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, cast

import chromadb
import httpx
import openai
import redis
from celery import Celery, chain, chord
from celery.signals import worker_ready
from chromadb.config import Settings as ChromaSettings

from activities.wire import messages_param, response_format
from runtime.settings import Settings, get_settings
from runtime.vectorindex import physical_name
from schemas.answer import EntityList, RetrievedChunk, Summary
from workflows import prompts

TOP_K = 4

_settings: Settings = get_settings()
app = Celery("bench_chain")
_local = threading.local()


def use_settings(settings: Settings) -> None:
    """Point the app at settings' Redis (broker and results) and its private queue (the bench's copy)."""
    global _settings
    _settings = settings
    app.conf.update(
        broker_url=settings.redis_url,
        result_backend=settings.redis_url,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_default_queue=f"{settings.key_prefix}-celery",
        result_expires=3600,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )


use_settings(_settings)


def queue_name() -> str:
    """The Celery queue of this stack (under the settings' key prefix, like every other Redis key)."""
    return str(app.conf.task_default_queue)


def ready_key() -> str:
    """The Redis key a worker sets once it consumes (the bench waits on it)."""
    return f"{_settings.key_prefix}:celery-ready"


def _task(name: str) -> Callable[[Callable[..., Any]], Any]:
    """`app.task(name=...)`, typed: Celery ships no type hints, its tasks are Any to mypy."""
    return cast(Callable[[Callable[..., Any]], Any], app.task(name=name))


@worker_ready.connect  # type: ignore[untyped-decorator]
def _announce(**_: Any) -> None:
    redis.Redis.from_url(_settings.redis_url).set(ready_key(), "1", ex=3600)


def _llm() -> openai.OpenAI:
    """One sync OpenAI client per worker thread, retries off like the activities' client."""
    if not hasattr(_local, "llm"):
        _local.llm = openai.OpenAI(
            base_url=_settings.llm_base_url,
            api_key=_settings.llm_api_key,
            max_retries=0,
            timeout=_settings.inference_timeout_s,
        )
    llm: openai.OpenAI = _local.llm
    return llm


def _chroma() -> Any:
    """One Chroma HTTP client per worker thread."""
    if not hasattr(_local, "chroma"):
        url = httpx.URL(_settings.chroma_url)
        _local.chroma = chromadb.HttpClient(
            host=url.host, port=url.port or 80, settings=ChromaSettings(anonymized_telemetry=False)
        )
    return _local.chroma


def _collection(name: str) -> Any:
    """The collection handle, cached per thread: one Chroma call per query, as `VectorIndex.query` makes."""
    cache: dict[str, Any] = _local.__dict__.setdefault("collections", {})
    if name not in cache:
        cache[name] = _chroma().get_collection(physical_name(name, _settings.embed_model), embedding_function=None)
    return cache[name]


@_task("bench.retrieve")
def retrieve(job_id: str, question: str, collection: str) -> dict[str, Any]:
    """Embed the question through the simulator and take the top-k chunks from Chroma (the same calls as ours)."""
    emb = _llm().embeddings.create(
        model=_settings.embed_model, input=[question], extra_headers={"Idempotency-Key": f"{job_id}/retrieve"}
    )
    found = _collection(collection).query(
        query_embeddings=[emb.data[0].embedding], n_results=TOP_K, include=["documents", "metadatas", "distances"]
    )
    chunks = [
        RetrievedChunk(chunk_id=i, text=d or "", source=str((m or {}).get("source", "")), score=1.0 - float(s))
        for i, d, m, s in zip(
            found["ids"][0], found["documents"][0], found["metadatas"][0], found["distances"][0], strict=True
        )
    ]
    return {"job_id": job_id, "question": question, "chunks": [c.model_dump() for c in chunks]}


def _structured(ctx: dict[str, Any], step: str, name: str, schema: type[Summary] | type[EntityList]) -> str:
    chunks = [RetrievedChunk.model_validate(c) for c in ctx["chunks"]]
    build = prompts.summarize_messages if name == "summary" else prompts.entities_messages
    params: dict[str, Any] = {
        "model": _settings.chat_model,
        "messages": messages_param(build(ctx["question"], chunks)),
        "temperature": 0.0,
        "response_format": response_format(name, schema),
        "extra_headers": {"Idempotency-Key": f"{ctx['job_id']}/{step}"},
    }
    resp = _llm().chat.completions.create(**params, stream=False)
    return schema.model_validate_json(resp.choices[0].message.content or "").model_dump_json()


@_task("bench.summarize")
def summarize(ctx: dict[str, Any]) -> dict[str, Any]:
    """A structured summary of the retrieved context; passes the context on to the answer step."""
    return {"ctx": ctx, "summary": _structured(ctx, "summarize", "summary", Summary)}


@_task("bench.extract_entities")
def extract_entities(ctx: dict[str, Any]) -> dict[str, Any]:
    """Structured entities of the retrieved context."""
    return {"entities": _structured(ctx, "extract_entities", "entities", EntityList)}


@_task("bench.generate_answer")
def generate_answer(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The answer, streamed from the simulator and assembled, with the summary and entities of the chord."""
    merged = {k: v for part in parts for k, v in part.items()}
    ctx = merged["ctx"]
    chunks = [RetrievedChunk.model_validate(c) for c in ctx["chunks"]]
    summary = Summary.model_validate_json(merged["summary"])
    params: dict[str, Any] = {
        "model": _settings.chat_model,
        "messages": messages_param(prompts.answer_messages(ctx["question"], chunks, summary)),
        "temperature": 0.0,
        "stream_options": {"include_usage": True},
        "extra_headers": {"Idempotency-Key": f"{ctx['job_id']}/generate_answer"},
    }
    # The SDK's typed stream, as a plain Celery app would use it: only the text is kept.
    with _llm().chat.completions.create(**params, stream=True) as stream:
        answer = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    return {
        "job_id": ctx["job_id"],
        "answer": answer,
        "summary": summary.model_dump(),
        "entities": EntityList.model_validate_json(merged["entities"]).model_dump()["entities"],
    }


def release_results() -> None:
    """Stop this thread's result listener and forget its subscriptions, while Redis is still up.

    Celery unsubscribes a result's channel when the AsyncResult is garbage-collected; any left for interpreter
    exit would find the bench's Redis stopped and retry for 20 s.
    """
    consumer = app.backend.result_consumer
    consumer.stop()
    consumer.subscribed_to.clear()


def answer_chain(job_id: str, question: str, collection: str) -> Any:
    """retrieve | (summarize ∥ extract_entities) | generate_answer, as one Celery canvas."""
    return chain(
        retrieve.s(job_id, question, collection),
        chord([summarize.s(), extract_entities.s()], generate_answer.s()),
    )
