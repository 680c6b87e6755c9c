"""AnswerQuestion end to end on the real stack: citations, the score gap, dead letters and replay, crash safety
(the workflow's own branches, parallel steps and throttling included, are tested in tests/inproc/)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import Client

from runtime.keys import RedisKeys
from runtime.processes import free_port
from runtime.redis import redis_client
from runtime.settings import Settings
from schemas.answer import AnswerRequest, AnswerResult
from schemas.events import EventType, ProgressEvent
from schemas.jobs import ErrorKind, JobStatus, Pipeline
from starter.client import GenAIFlowClient
from starter.dlq import list_dead_letters, replay
from tests.helpers import index_facts, is_chunk_of, private_settings, retrieved_chunks, running_workers, sim_ledger


@pytest_asyncio.fixture
async def answer_env(
    servers: dict[str, str], client: Client, unique: str, tmp_path: Path
) -> AsyncIterator[tuple[GenAIFlowClient, str]]:
    """Workers on this test's private queues and a small indexed corpus; yields (client, collection)."""
    settings = private_settings(unique)
    collection = f"facts-{unique}"
    await index_facts(tmp_path, collection, settings)
    async with running_workers(client, settings) as flow:
        yield flow, collection


async def ask(flow: GenAIFlowClient, question: str, collection: str, **extra: Any) -> str:
    started = await flow.start(Pipeline.ANSWER, AnswerRequest(question=question, collection=collection, **extra))
    return started.job_id


async def test_answer_cites_the_chunk_that_holds_the_fact(answer_env: tuple[GenAIFlowClient, str], servers) -> None:
    flow, collection = answer_env
    job_id = await ask(flow, "Who commissioned the Zephyr reactor?", collection)
    info = await asyncio.wait_for(flow.wait(job_id), 60)

    assert info.status is JobStatus.COMPLETED, info.error
    result = AnswerResult.model_validate(info.result)
    assert "Amelia Hartwell" in result.answer
    assert result.citations and is_chunk_of(result.citations[0].chunk_id, "zephyr.md")
    assert "Amelia Hartwell" in result.citations[0].quote
    assert {s.step for s in result.steps} == {"retrieve", "summarize", "extract_entities", "generate_answer"}
    assert result.summary and result.summary.summary
    people = [e for e in result.entities if "Amelia Hartwell" in e.text]
    assert people and is_chunk_of(people[0].evidence_chunk_id, "zephyr.md"), result.entities
    # The token ledger adds up, and it matches what the model provider (the simulator) billed for this job.
    assert result.usage.billed_tokens == sum(s.usage.billed_tokens for s in result.steps) > 0
    assert result.cost_usd == pytest.approx(sum(s.cost_usd for s in result.steps)) and result.cost_usd > 0
    ledger = await sim_ledger(servers["sim_url"], prefix=f"{job_id}/")
    assert sum(e.billed_tokens for e in ledger.entries.values()) == result.usage.billed_tokens
    assert info.usage.billed_tokens == result.usage.billed_tokens
    assert info.steps[0].name.startswith("retrieve")


async def test_a_score_gap_keeps_only_the_chunks_near_the_best(answer_env: tuple[GenAIFlowClient, str]) -> None:
    flow, collection = answer_env
    question = "Who commissioned the Zephyr reactor?"
    everything, near = await asyncio.gather(
        ask(flow, question, collection, top_k=3), ask(flow, question, collection, top_k=3, score_gap=0.0)
    )
    infos = await asyncio.wait_for(asyncio.gather(flow.wait(everything), flow.wait(near)), 60)
    assert all(info.status is JobStatus.COMPLETED for info in infos), [info.error for info in infos]
    all_chunks, kept = await retrieved_chunks(flow, everything), await retrieved_chunks(flow, near)
    assert len(all_chunks) == 3 and all_chunks[0].score > all_chunks[-1].score
    assert kept == all_chunks[:1]  # a gap of 0: only the best chunk reaches the model
    # A deployment's gap travels with requests that set none (workflows cannot read settings).
    gapped = GenAIFlowClient(flow.temporal, flow.settings.model_copy(update={"score_gap": 0.3}))
    job = await gapped.start(Pipeline.ANSWER, AnswerRequest(question=question, collection=collection))
    first = await anext(aiter(flow.handle(job.job_id).fetch_history_events()))
    attrs = first.workflow_execution_started_event_attributes
    [started] = await flow.temporal.data_converter.decode(attrs.input.payloads, [AnswerRequest])
    assert started.score_gap == 0.3
    await asyncio.wait_for(flow.wait(job.job_id), 60)


async def test_empty_collection_fails_clearly(answer_env: tuple[GenAIFlowClient, str], unique: str) -> None:
    flow, _ = answer_env
    job_id = await ask(flow, "Anything?", f"nothing-{unique}")
    info = await asyncio.wait_for(flow.wait(job_id), 60)
    assert info.status is JobStatus.FAILED
    assert info.error and info.error.type == "EmptyCollection"
    assert f"`genai-flow ingest PATH --collection nothing-{unique}`" in info.error.message  # the command that fills it


async def test_poison_job_dead_letters_alone_and_replays(
    answer_env: tuple[GenAIFlowClient, str], unique: str, servers: dict[str, str]
) -> None:
    flow, collection = answer_env
    poison = f"Who planted the Harlow orchard? [[sim:500x5#{unique}]]"
    questions = [poison] + [f"Who catalogued Comet Veyra? (variant {n})" for n in range(9)]
    job_ids = await asyncio.gather(*(ask(flow, q, collection) for q in questions))
    infos = await asyncio.wait_for(asyncio.gather(*(flow.wait(j) for j in job_ids)), 120)

    assert infos[0].status is JobStatus.DEAD_LETTERED
    assert infos[0].error and infos[0].error.kind is ErrorKind.DEAD_LETTERED
    assert [i.status for i in infos[1:]] == [JobStatus.COMPLETED] * 9
    ledger = await sim_ledger(servers["sim_url"], prefix=f"{job_ids[0]}/")
    assert [len(e.calls) for e in ledger.entries.values()] == [5]  # the first step, attempted exactly 5 times
    assert all(c.status == 500 for e in ledger.entries.values() for c in e.calls)

    dead = {v.job_id: v for v in await list_dead_letters(flow)}
    entry = dead[job_ids[0]]
    assert (entry.step, entry.attempts, entry.error_type) == ("retrieve", 5, "Transient")

    replayed = await replay(flow, job_ids[0])
    assert replayed.job_id == f"{job_ids[0]}-replay-1"
    final = await asyncio.wait_for(flow.wait(replayed.job_id), 60)
    assert final.status is JobStatus.COMPLETED, final.error
    assert "Thomas Greaves" in final.result["answer"]  # type: ignore[index]
    assert (await list_dead_letters(flow)) and {v.job_id: v for v in await list_dead_letters(flow)}[
        job_ids[0]
    ].replayed_as == [replayed.job_id]


def _worker(settings: Settings, fault_point: str | None, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "GENAI_FLOW_TASK_QUEUE_PREFIX": settings.task_queue_prefix,
        "GENAI_FLOW_KEY_PREFIX": settings.key_prefix,
        "GENAI_FLOW_METRICS_PORT": str(free_port()),
    }
    env.pop("GENAI_FLOW_FAULT_POINT", None)
    if fault_point:
        env["GENAI_FLOW_FAULT_POINT"] = fault_point
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "starter.cli", "worker"], env=env, stdout=out, stderr=out)


async def test_worker_crash_after_store_bills_the_step_once(
    servers: dict[str, str], client: Client, unique: str, tmp_path: Path
) -> None:
    settings = private_settings(unique)
    collection = f"facts-{unique}"
    await index_facts(tmp_path, collection, settings)
    flow = GenAIFlowClient(client, settings)
    crashing = _worker(settings, "generate_answer:after_store", tmp_path / "worker1.log")
    try:
        job_id = await ask(flow, "How often does Comet Veyra return?", collection)
        # The worker exits by itself once the answer was generated, paid for and stored.
        code = await asyncio.wait_for(asyncio.to_thread(crashing.wait), 60)
        assert code != 0, (tmp_path / "worker1.log").read_text()
    finally:
        if crashing.poll() is None:
            crashing.kill()
    assert (await flow.status(job_id)).status is JobStatus.RUNNING

    healthy = _worker(settings, None, tmp_path / "worker2.log")
    try:
        info = await asyncio.wait_for(flow.wait(job_id), 120)
    finally:
        healthy.terminate()
        healthy.wait(30)
    assert info.status is JobStatus.COMPLETED, info.error
    assert "71 years" in info.result["answer"]  # type: ignore[index]
    generate = next(s for s in AnswerResult.model_validate(info.result).steps if s.step == "generate_answer")
    assert generate.usage.cache_hit and generate.usage.billed_tokens == 0
    ledger = await sim_ledger(servers["sim_url"], prefix=f"{job_id}/generate_answer")
    calls = [c for e in ledger.entries.values() for c in e.calls]
    assert len(calls) == 1 and calls[0].billed_completion_tokens > 0  # called and billed exactly once


async def test_progress_events_tell_the_story_of_the_job(answer_env: tuple[GenAIFlowClient, str]) -> None:
    flow, collection = answer_env
    job_id = await ask(flow, "Where was the Zephyr reactor commissioned?", collection)
    info = await asyncio.wait_for(flow.wait(job_id), 60)
    assert info.status is JobStatus.COMPLETED

    redis = redis_client(flow.settings)
    try:
        entries = await redis.xrange(RedisKeys.of(flow.settings).events(job_id))
    finally:
        await redis.aclose()
    events = [ProgressEvent.from_stream_fields(fields) for _id, fields in entries]
    types = [e.type for e in events]
    started = [e.step for e in events if e.type is EventType.STEP_STARTED]
    completed = [e.step for e in events if e.type is EventType.STEP_COMPLETED]
    assert (
        sorted(started) == sorted(completed) == sorted(["retrieve", "summarize", "extract_entities", "generate_answer"])
    )
    assert started[0] == "retrieve" and completed[-1] == "generate_answer"
    streamed = "".join(e.data["delta"] for e in events if e.type is EventType.TOKEN)
    assert streamed == info.result["answer"]  # type: ignore[index]
    assert types[-1] is EventType.JOB_COMPLETED and types.count(EventType.JOB_COMPLETED) == 1
    assert events[-1].data["billed_tokens"] == info.usage.billed_tokens
