"""Logs of a real job carry the job, workflow, run, activity and attempt ids, and never its text by default."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from runtime.logging import configure_logging
from runtime.settings import Settings
from schemas.answer import AnswerRequest
from schemas.jobs import JobStatus, Pipeline
from tests.helpers import index_facts, private_settings, running_workers


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def capture(settings: Settings) -> io.StringIO:
    """Route every log line of this process, as JSON, into a buffer."""
    stream = io.StringIO()
    configure_logging(settings.model_copy(update={"log_format": "json", "log_level": "INFO"}), stream=stream)
    return stream


async def run_job(client: Client, settings: Settings, question: str, collection: str) -> str:
    """One AnswerQuestion job on in-process workers; returns its id once completed."""
    async with running_workers(client, settings) as flow:
        started = await flow.start(Pipeline.ANSWER, AnswerRequest(question=question, collection=collection))
        info = await asyncio.wait_for(flow.wait(started.job_id), 90)
        assert info.status is JobStatus.COMPLETED, info.error
        return started.job_id


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    """The JSON log lines written so far."""
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]


async def test_logs_carry_ids_and_no_text_by_default(
    servers: dict[str, str], client: Client, unique: str, tmp_path: Path
) -> None:
    settings = private_settings(unique)
    collection = f"logs-{unique}"
    await index_facts(tmp_path, collection, settings)
    secret = f"quillon marmot {unique}"
    # The first model call fails once: failure lines (ours and the SDK's own) must carry the ids too.
    question = f"Who commissioned the Zephyr reactor, asks the {secret}? [[sim:500x1#logs-{unique}]]"

    stream = capture(settings)
    job_id = await run_job(client, settings, question, collection)
    text = stream.getvalue()
    assert secret not in text, "prompt text reached the logs"
    records = lines(stream)
    done = [r for r in records if r.get("event") == "inference step done" and r.get("job_id") == job_id]
    assert {r["step"] for r in done} == {"retrieve", "summarize", "extract_entities", "generate_answer"}
    for record in done:
        assert record["workflow_id"] == job_id and record["run_id"] and record["activity"] and record["attempt"] >= 1
    answer_line = next(r for r in done if r["step"] == "generate_answer")
    assert answer_line["prompt"].startswith("[redacted ") and answer_line["answer"].startswith("[redacted ")
    failed = [r for r in records if r.get("event") == "model call failed"]
    assert failed and all(r["job_id"] == job_id and r["activity"] == "retrieve" for r in failed)
    assert failed[0]["attempt"] == 1
    # temporalio's own stdlib lines about the failed attempt are lifted into the same fields.
    sdk = [r for r in records if str(r.get("logger", "")).startswith("temporalio") and r.get("job_id") == job_id]
    assert sdk and all(r["activity"] == "retrieve" and "run_id" in r for r in sdk)

    # GENAI_FLOW_LOG_TEXT=true: the same line shows the prompt and answer, for debugging.
    verbose = settings.model_copy(update={"log_text": True})
    stream = capture(verbose)
    plain = f"Who commissioned the Zephyr reactor, asks the {secret} again?"
    job_id = await run_job(client, verbose, plain, collection)
    done = [r for r in lines(stream) if r.get("event") == "inference step done" and r.get("job_id") == job_id]
    answer_line = next(r for r in done if r["step"] == "generate_answer")
    assert secret in answer_line["prompt"] and "Hartwell" in answer_line["answer"]
