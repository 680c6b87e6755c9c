"""AnswerQuestion when the model misbehaves as small real models do: no `[chunk_id]` citations, a JSON loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest_asyncio
from temporalio.client import Client

from runtime.settings import DEFAULT_MAX_TOKENS
from runtime.vectorindex import VectorIndex
from schemas.answer import AnswerRequest, AnswerResult, Citation
from schemas.events import EventType
from schemas.jobs import JobStatus, Pipeline
from starter.client import GenAIFlowClient
from starter.dlq import list_dead_letters
from tests.helpers import index_facts, private_settings, progress_events, running_workers

EXTRACT_BOUND = 8  # a tiny per-step bound: the loop is cut after 8 tokens, not at the inference timeout


@asynccontextmanager
async def workers(
    client: Client, unique: str, tmp_path: Path, **max_tokens: int
) -> AsyncIterator[tuple[GenAIFlowClient, str]]:
    """Workers on private queues (with these per-step output bounds) and a small indexed corpus."""
    settings = private_settings(unique)
    settings = settings.model_copy(update={"max_tokens": {**DEFAULT_MAX_TOKENS, **max_tokens}})
    collection = f"facts-{unique}"
    await index_facts(tmp_path, collection, settings)
    async with running_workers(client, settings) as flow:
        yield flow, collection


@pytest_asyncio.fixture
async def answer_env(
    servers: dict[str, str], client: Client, unique: str, tmp_path: Path
) -> AsyncIterator[tuple[GenAIFlowClient, str]]:
    """Workers with the default bounds."""
    async with workers(client, unique, tmp_path) as env:
        yield env


async def run(flow: GenAIFlowClient, question: str, collection: str, timeout: float = 90) -> Any:
    started = await flow.start(Pipeline.ANSWER, AnswerRequest(question=question, collection=collection))
    return await asyncio.wait_for(flow.wait(started.job_id), timeout)


async def chunk_texts(flow: GenAIFlowClient, collection: str, citations: list[Citation]) -> dict[str, str]:
    """The indexed text of each cited chunk, read back from Chroma."""
    coll = await VectorIndex(flow.settings).collection(collection)
    got = await coll.get(ids=sorted({c.chunk_id for c in citations}), include=["documents"])
    return dict(zip(got["ids"], got["documents"] or [], strict=True))


async def token_text(flow: GenAIFlowClient, job_id: str) -> str:
    """The answer as the job's `token` events streamed it."""
    events = await progress_events(flow.settings, job_id)
    return "".join(e.data["delta"] for e in events if e.type is EventType.TOKEN)


async def test_answer_without_chunk_ids_gets_inferred_verbatim_citations(
    answer_env: tuple[GenAIFlowClient, str],
) -> None:
    flow, collection = answer_env
    # Within the bound, the (simulated) model answers but writes no [chunk_id], like SmolLM2 did.
    info = await run(flow, "Who commissioned the Zephyr reactor? [[sim:nocite]]", collection)
    assert info.status is JobStatus.COMPLETED, info.error
    result = AnswerResult.model_validate(info.result)
    assert "Amelia Hartwell" in result.answer and "[" not in result.answer
    assert result.citations, "citations must not depend on the model writing [chunk_id]"
    first = result.citations[0]
    assert first.chunk_id.startswith("zephyr.md") and first.inferred
    assert "Amelia Hartwell" in first.quote
    texts = await chunk_texts(flow, collection, result.citations)
    assert all(c.quote in texts[c.chunk_id] for c in result.citations), (result.citations, texts)
    assert not result.truncated
    # The streamed tokens still add up to the answer the result holds.
    assert await token_text(flow, info.job_id) == result.answer


async def test_cited_answer_quotes_its_chunk_verbatim(answer_env: tuple[GenAIFlowClient, str]) -> None:
    flow, collection = answer_env
    info = await run(flow, "What is the coolant of the Zephyr reactor?", collection)
    assert info.status is JobStatus.COMPLETED, info.error
    result = AnswerResult.model_validate(info.result)
    assert result.citations and result.citations[0].chunk_id.startswith("zephyr.md")
    assert not any(c.inferred for c in result.citations)  # the model named them
    texts = await chunk_texts(flow, collection, result.citations)
    assert all(c.quote and c.quote in texts[c.chunk_id] for c in result.citations)
    # Each cited sentence brings its own quote: the coolant sentence is quoted from the chunk that states it.
    assert any("molten fluoride salt" in c.quote for c in result.citations if c.chunk_id.startswith("zephyr.md"))


async def test_json_loop_dead_letters_as_truncated(
    servers: dict[str, str], client: Client, unique: str, tmp_path: Path
) -> None:
    async with workers(client, unique, tmp_path, extract_entities=EXTRACT_BOUND) as (flow, collection):
        question = f"Who planted the Harlow orchard? [[sim:jsonloop=entities#{unique}]]"
        info = await run(flow, question, collection, 120)
        dead = {v.job_id: v for v in await list_dead_letters(flow)}
    assert info.status is JobStatus.DEAD_LETTERED, info.error
    entry = dead[info.job_id]
    assert (entry.step, entry.error_type, entry.attempts) == ("extract_entities", "InvalidOutput", 5)
    assert f"truncated at max_tokens={EXTRACT_BOUND}" in entry.last_error, entry.last_error
    assert "timeout" not in entry.last_error.lower()
