"""`genai-flow ask`, `status`, `result` and `dlq` as a user runs them: output, JSON models and exit codes."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from temporalio.client import Client

from runtime.settings import Settings
from schemas.jobs import JobInfo, JobStarted, JobStatus
from starter.client import GenAIFlowClient
from tests.helpers import index_facts, is_chunk_of, private_settings, running_workers


async def cli(settings: Settings, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run `genai-flow ARGS` against this test's queues and keys; (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "starter.cli", *args,
        env={**os.environ, "GENAI_FLOW_TASK_QUEUE_PREFIX": settings.task_queue_prefix,
             "GENAI_FLOW_KEY_PREFIX": settings.key_prefix, "COLUMNS": "200", **(env or {})},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


@pytest_asyncio.fixture
async def env(
    servers: dict[str, str], client: Client, unique: str, tmp_path: Path
) -> AsyncIterator[tuple[Settings, GenAIFlowClient, str]]:
    settings = private_settings(unique)
    collection = f"facts-{unique}"
    await index_facts(tmp_path, collection, settings)
    async with running_workers(client, settings) as flow:
        yield settings, flow, collection


async def test_ask_wait_json_prints_the_completed_job(env: tuple[Settings, GenAIFlowClient, str]) -> None:
    settings, _, collection = env
    code, out, err = await cli(settings, "ask", "Who planted the Harlow orchard?", "--collection", collection,
                               "--wait", "--json")  # fmt: skip
    assert code == 0, err
    info = JobInfo.model_validate_json(out)
    assert info.status is JobStatus.COMPLETED and "Thomas Greaves" in info.result["answer"]  # type: ignore[index]
    assert is_chunk_of(info.result["citations"][0]["chunk_id"], "orchard.md")  # type: ignore[index]


async def test_ask_without_wait_prints_job_urls_then_result_waits(env: tuple[Settings, GenAIFlowClient, str]) -> None:
    settings, _, collection = env
    code, out, _ = await cli(
        settings, "ask", "How often does Comet Veyra return?", "--collection", collection, "--json"
    )
    assert code == 0
    started = JobStarted.model_validate_json(out)
    assert started.job_id.startswith("answer-") and started.events_url.endswith("/events")
    code, out, _ = await cli(settings, "result", started.job_id)
    assert code == 0 and "71 years" in out


async def test_ask_wait_human_output_shows_answer_and_citation(env: tuple[Settings, GenAIFlowClient, str]) -> None:
    settings, _, collection = env
    code, out, err = await cli(settings, "ask", "Who commissioned the Zephyr reactor?", "--collection", collection,
                               "--wait")  # fmt: skip
    assert code == 0, err
    assert "A:" in out and "Amelia Hartwell" in out and "tokens billed" in out
    assert re.search(r"\[zephyr\.md@[0-9a-f]+#0\]", out), out


async def test_dead_lettered_job_exits_3_and_dlq_lists_and_replays_it(
    env: tuple[Settings, GenAIFlowClient, str], unique: str
) -> None:
    settings, flow, collection = env
    question = f"Who catalogued Comet Veyra? [[sim:500x5#{unique}]]"
    code, out, _ = await cli(settings, "ask", question, "--collection", collection, "--wait", "--json")
    assert code == 3
    job_id = JobInfo.model_validate_json(out).job_id
    code, out, _ = await cli(settings, "status", job_id)
    assert code == 3 and "dead_lettered" in out
    code, out, _ = await cli(settings, "dlq", "list", "--json")
    rows = {row["job_id"]: row for row in json.loads(out)}
    assert code == 0 and rows[job_id]["attempts"] == 5 and rows[job_id]["step"] == "retrieve"
    code, out, _ = await cli(settings, "dlq", "replay", job_id, "--json")
    assert code == 0
    replayed = JobStarted.model_validate_json(out)
    assert (await asyncio.wait_for(flow.wait(replayed.job_id), 60)).status is JobStatus.COMPLETED


async def test_bad_input_gives_usage_errors_not_tracebacks(
    env: tuple[Settings, GenAIFlowClient, str], tmp_path: Path
) -> None:
    settings, _, _ = env
    code, _, err = await cli(settings, "ask", "")
    assert code == 2 and "question" in err and "Traceback" not in err
    code, _, err = await cli(settings, "ask", "   ")
    assert code == 2 and "question: must contain text, not only whitespace" in err and "Traceback" not in err
    code, _, err = await cli(settings, "agent", " \t ")
    assert code == 2 and "task: must contain text, not only whitespace" in err and "Traceback" not in err
    code, _, err = await cli(settings, "ask", "q", "--top-k", "0")
    assert code == 2 and "top_k" in err and "Traceback" not in err
    code, _, err = await cli(settings, "status", "answer-nope")
    assert code == 2 and "no job" in err
    code, _, err = await cli(settings, "dlq", "replay", "answer-nope")
    assert code == 2 and "Traceback" not in err
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    code, _, err = await cli(settings, "dlq", "replay", "answer-nope", "--input", str(bad))
    assert code == 2 and "JSON object" in err


async def test_unreachable_temporal_exits_5(env: tuple[Settings, GenAIFlowClient, str]) -> None:
    settings, _, _ = env
    code, _, err = await cli(settings, "status", "answer-x", env={"TEMPORAL_ADDRESS": "127.0.0.1:9"})
    assert code == 5 and "cannot reach Temporal" in err and "Traceback" not in err


async def test_jobs_lists_completed_jobs_and_cancel_of_a_closed_job_is_refused(
    env: tuple[Settings, GenAIFlowClient, str],
) -> None:
    settings, flow, collection = env
    code, out, _ = await cli(settings, "ask", "Who planted the Harlow orchard?", "--collection", collection, "--json")
    job_id = JobStarted.model_validate_json(out).job_id
    await asyncio.wait_for(flow.wait(job_id), 60)
    for _ in range(50):  # visibility is eventually consistent
        code, out, _ = await cli(settings, "jobs", "--pipeline", "answer", "--status", "completed", "--json")
        listed = [JobInfo.model_validate(row) for row in json.loads(out)]
        if any(j.job_id == job_id for j in listed):
            break
        await asyncio.sleep(0.2)
    assert code == 0 and any(j.job_id == job_id for j in listed)
    assert all(j.status is JobStatus.COMPLETED for j in listed)
    code, _, err = await cli(settings, "cancel", job_id)
    assert code == 4 and f"job {job_id} is already completed" in err
    code, _, err = await cli(settings, "jobs", "--status", "bogus")
    assert code == 2 and "Traceback" not in err
