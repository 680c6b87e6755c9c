"""An ingestion's progress events: every step starts and completes in order with its counts, one terminal event."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from activities.events import EventPublisher
from activities.step_events import StepEvents
from runtime.redis import redis_client
from runtime.settings import Settings
from schemas.events import EventType, ProgressEvent
from schemas.ingest import IngestJob, ObjectVersion
from schemas.jobs import JobStatus
from starter.client import GenAIFlowClient
from tests.helpers import arm_sim_fault, private_settings, progress_events, running_workers
from tests.ingest_docs import corrupt_pdf_bytes

ZEPHYR = "# The Zephyr reactor\n\nThe Zephyr reactor was commissioned in 1987 by Dr. Amelia Hartwell in Lisbon."
STEPS = ["extract_text", "chunk", "embed#0", "index_chunks"]


@pytest_asyncio.fixture
async def flow(servers: dict[str, str], client: Client, unique: str) -> AsyncIterator[GenAIFlowClient]:
    async with running_workers(client, private_settings(unique)) as gf:
        yield gf


async def ingested(flow: GenAIFlowClient, path: Path, collection: str) -> tuple[str, list[ProgressEvent]]:
    """Ingest one file, wait for its job to close; its job id and progress events."""
    job = await flow.ingest_uri(path.as_uri(), collection)
    assert isinstance(job, IngestJob) and not job.unchanged, job
    await asyncio.wait_for(flow.wait(job.job_id), 120)
    return job.job_id, await progress_events(flow.settings, job.job_id)


def steps_of(events: list[ProgressEvent], kind: EventType) -> list[str | None]:
    return [e.step for e in events if e.type is kind]


def completed(events: list[ProgressEvent], step: str) -> dict[str, object]:
    (event,) = [e for e in events if e.type is EventType.STEP_COMPLETED and e.step == step]
    return event.data


def terminal(events: list[ProgressEvent]) -> ProgressEvent:
    """The stream's one terminal event, which must also be its last."""
    closing = [e for e in events if e.type.terminal]
    assert len(closing) == 1 and closing[0] is events[-1], [e.type for e in events]
    return closing[0]


async def test_each_step_starts_and_completes_in_order_with_counts_then_one_job_completed(
    flow: GenAIFlowClient, tmp_path: Path, unique: str
) -> None:
    doc = tmp_path / "zephyr.md"
    doc.write_text(ZEPHYR)
    job_id, events = await ingested(flow, doc, f"prog-{unique}")

    assert steps_of(events, EventType.STEP_STARTED) == STEPS
    assert steps_of(events, EventType.STEP_COMPLETED) == STEPS
    for step in STEPS:  # each step's completion follows its start, and the next step starts after it
        kinds = [e.type for e in events if e.step == step]
        assert kinds == [EventType.STEP_STARTED, EventType.STEP_COMPLETED], (step, kinds)
    order = [(e.step, e.type) for e in events if e.step]
    assert order == [(s, t) for s in STEPS for t in (EventType.STEP_STARTED, EventType.STEP_COMPLETED)]
    assert not steps_of(events, EventType.STEP_RETRYING)
    assert all(e.data["attempt"] == 1 for e in events if e.step)

    assert completed(events, "extract_text") == {
        "attempt": 1, "content_type": "text/markdown", "pages": 1, "chars": len(ZEPHYR)
    }  # fmt: skip
    assert completed(events, "chunk") == {"attempt": 1, "chunks": 1, "groups": 1}
    embed = completed(events, "embed#0")
    assert {k: embed[k] for k in ("group", "chunks", "embedded", "total")} == {
        "group": 0, "chunks": 1, "embedded": 1, "total": 1
    }  # fmt: skip
    assert embed["usage"]["prompt_tokens"] > 0  # type: ignore[index]
    assert completed(events, "index_chunks") == {
        "attempt": 1, "outcome": "indexed", "reason": "", "chunks": 1, "removed_chunks": 0
    }  # fmt: skip

    closing = terminal(events)
    info = await flow.status(job_id)
    assert closing.type is EventType.JOB_COMPLETED and info.status is JobStatus.COMPLETED
    assert closing.data["outcome"] == "indexed" and closing.data["chunks"] == 1 and closing.data["pages"] == 1
    assert closing.data["billed_tokens"] == info.usage.billed_tokens


async def test_removal_reports_its_step_and_closes_removed(flow: GenAIFlowClient, tmp_path: Path, unique: str) -> None:
    doc = tmp_path / "zephyr.md"
    doc.write_text(ZEPHYR)
    collection = f"prog-{unique}"
    await ingested(flow, doc, collection)
    job = await flow.remove(ObjectVersion(uri=doc.as_uri(), version="deleted"), collection)
    assert isinstance(job, IngestJob)
    await asyncio.wait_for(flow.wait(job.job_id), 120)
    events = await progress_events(flow.settings, job.job_id)

    assert [(e.type, e.step) for e in events[:2]] == [
        (EventType.STEP_STARTED, "remove_document"), (EventType.STEP_COMPLETED, "remove_document")
    ]  # fmt: skip
    assert events[1].data["outcome"] == "removed" and events[1].data["removed_chunks"] == 1
    closing = terminal(events)
    assert closing.type is EventType.JOB_COMPLETED and closing.data["outcome"] == "removed"


async def test_a_corrupt_pdf_ends_its_stream_dead_lettered(flow: GenAIFlowClient, tmp_path: Path, unique: str) -> None:
    doc = tmp_path / "broken.pdf"
    doc.write_bytes(corrupt_pdf_bytes())
    job_id, events = await ingested(flow, doc, f"prog-{unique}")

    assert (await flow.status(job_id)).status is JobStatus.DEAD_LETTERED
    assert steps_of(events, EventType.STEP_STARTED) == ["extract_text"]
    assert not steps_of(events, EventType.STEP_COMPLETED)  # a Permanent failure: no retry, no completion
    closing = terminal(events)
    assert closing.type is EventType.JOB_DEAD_LETTERED
    assert closing.data["step"] == "extract_text" and "corrupt PDF" in closing.data["last_error"]


async def test_a_retried_embed_group_publishes_step_retrying(
    flow: GenAIFlowClient, tmp_path: Path, unique: str, servers: dict[str, str]
) -> None:
    doc = tmp_path / "flaky.md"
    doc.write_text(f"{ZEPHYR} flaky-{unique}")
    await arm_sim_fault(servers["sim_url"], f"flaky-{unique}", "500x1")  # fails the first embedding call once
    _job_id, events = await ingested(flow, doc, f"prog-{unique}")

    group = [(e.type, e.data.get("attempt")) for e in events if e.step == "embed#0"]
    assert group == [
        (EventType.STEP_STARTED, 1),
        (EventType.STEP_STARTED, 2),
        (EventType.STEP_RETRYING, 2),
        (EventType.STEP_COMPLETED, 2),
    ]
    assert terminal(events).data["outcome"] == "indexed"


async def test_embedded_so_far_counts_each_group_once_across_retries(isolated_settings: Settings) -> None:
    """The tally behind `embedded`: groups finishing in any order, one of them twice, sum to the chunks done."""
    redis = redis_client(isolated_settings)
    events = StepEvents(EventPublisher(redis, isolated_settings))
    env = ActivityEnvironment()
    try:
        totals = [await env.run(events.tally, group, count, "ingest-tally") for group, count in
                  (("1", 2048), ("0", 2048), ("1", 2048), ("2", 100))]  # fmt: skip
    finally:
        await redis.aclose()
    assert totals == [2048, 4096, 4096, 4196]
