"""The grounding check end to end on the simulator: the HTTP result's model, the terminal event and the CLI show it."""

from __future__ import annotations

import asyncio
import os
import sys

from runtime.keys import RedisKeys
from runtime.redis import redis_client
from runtime.settings import Settings
from schemas.answer import AnswerRequest, AnswerResult
from schemas.events import EventType, ProgressEvent
from schemas.grounding import AnswerVerdict, Verdict
from schemas.jobs import JobStatus, Pipeline
from starter.client import GenAIFlowClient
from tests.helpers import is_chunk_of, retrieved_chunks
from tests.test_cli_answer import env  # noqa: F401 - the same corpus and workers


async def test_a_supported_answer_is_marked_supported_and_an_unanswerable_one_says_so(
    env: tuple[Settings, GenAIFlowClient, str],  # noqa: F811
) -> None:
    settings, flow, collection = env
    started = await flow.start(
        Pipeline.ANSWER, AnswerRequest(question="Who commissioned the Zephyr reactor?", collection=collection)
    )
    info = await asyncio.wait_for(flow.wait(started.job_id), 60)
    assert info.status is JobStatus.COMPLETED, info.error
    result = AnswerResult.model_validate(info.result)
    assert result.grounding is not None and result.grounding.verdict is AnswerVerdict.SUPPORTED
    assert result.grounding.score == 1.0 and all(s.verdict is Verdict.SUPPORTED for s in result.grounding.sentences)
    assert "Amelia Hartwell" in result.answer
    evidence = [c for c in result.citations if c.label == "evidence"]
    assert evidence and is_chunk_of(evidence[0].chunk_id, "zephyr.md") and "Amelia Hartwell" in evidence[0].quote
    retrieved = {c.chunk_id for c in await retrieved_chunks(flow, started.job_id)}
    assert result.entities and {e.evidence_chunk_id for e in result.entities} <= retrieved
    redis = redis_client(settings)
    try:
        entries = await redis.xrange(RedisKeys.of(settings).events(started.job_id))
    finally:
        await redis.aclose()
    last = ProgressEvent.from_stream_fields(entries[-1][1])
    assert last.type is EventType.JOB_COMPLETED and last.data["verdict"] == "supported" and last.data["score"] == 1.0

    # Nothing in the corpus is about the question: the answer says so, and the CLI shows why.
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "starter.cli", "ask", "How tall is Mount Everest?", "--collection", collection, "--wait",
        env={**os.environ, "GENAI_FLOW_TASK_QUEUE_PREFIX": settings.task_queue_prefix,
             "GENAI_FLOW_KEY_PREFIX": settings.key_prefix, "COLUMNS": "200"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    text = out.decode()
    assert "The documents do not contain the answer to this question." in text, text
    assert "grounding: not_in_documents" in text and "below the floor 0.12" in text
    assert "(context)" in text and "the model answered:" in text
