"""The Python client and status mapping against the real Temporal dev server (no worker needed for these)."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import Client

from runtime.redis import redis_client
from schemas.answer import AnswerRequest
from schemas.ingest import IngestJob, ObjectVersion
from schemas.jobs import ErrorKind, JobStatus, Pipeline
from schemas.s3events import IgnoredEvent
from starter.client import GenAIFlowClient, IdempotencyConflictError, JobClosedError, JobNotFoundError
from tests.helpers import private_settings


@pytest.fixture
def flow(servers: dict[str, str], client: Client, unique: str) -> GenAIFlowClient:
    """A client on private queues that no worker polls: jobs stay queued until a test acts on them."""
    return GenAIFlowClient(client, private_settings(unique))


async def test_started_job_without_worker_is_queued(flow: GenAIFlowClient) -> None:
    started = await flow.start(Pipeline.ANSWER, AnswerRequest(question="Is anyone there?"))
    assert started.job_id.startswith("answer-")
    assert started.status_url.endswith(f"/v1/jobs/{started.job_id}")
    assert started.events_url.endswith(f"/v1/jobs/{started.job_id}/events")
    info = await flow.status(started.job_id)
    assert (info.status, info.pipeline) == (JobStatus.QUEUED, Pipeline.ANSWER)
    assert info.created_at is not None and info.closed_at is None


async def test_same_idempotency_key_returns_the_same_job(flow: GenAIFlowClient, unique: str) -> None:
    request = AnswerRequest(question="Same question", top_k=3)
    first = await flow.start(Pipeline.ANSWER, request, idempotency_key=f"key-{unique}")
    again = await flow.start(Pipeline.ANSWER, request, idempotency_key=f"key-{unique}")
    assert (again.job_id, first.duplicate, again.duplicate) == (first.job_id, False, True)
    with pytest.raises(IdempotencyConflictError):
        await flow.start(Pipeline.ANSWER, AnswerRequest(question="Other"), idempotency_key=f"key-{unique}")


async def test_duplicate_is_detected_after_the_first_run_closed(flow: GenAIFlowClient, unique: str) -> None:
    request = AnswerRequest(question="Closed already")
    first = await flow.start(Pipeline.ANSWER, request, idempotency_key=f"closed-{unique}")
    await flow.handle(first.job_id).terminate(reason="test")
    again = await flow.start(Pipeline.ANSWER, request, idempotency_key=f"closed-{unique}")
    assert again.duplicate and again.job_id == first.job_id


async def test_cancelled_and_terminated_jobs_report_failed_with_kind(flow: GenAIFlowClient) -> None:
    cancelled = await flow.start(Pipeline.ANSWER, AnswerRequest(question="cancel me"))
    terminated = await flow.start(Pipeline.ANSWER, AnswerRequest(question="terminate me"))
    await flow.cancel(cancelled.job_id)
    await flow.handle(terminated.job_id).terminate(reason="operator said so")
    # Cancellation of a workflow nobody runs only lands once a worker picks it up; terminate is immediate.
    info = await flow.status(terminated.job_id)
    assert info.status is JobStatus.FAILED
    assert info.error and info.error.kind is ErrorKind.TERMINATED and "operator said so" in info.error.message
    assert info.closed_at is not None


async def test_unknown_job_raises_not_found(flow: GenAIFlowClient) -> None:
    with pytest.raises(JobNotFoundError):
        await flow.status("answer-does-not-exist")
    with pytest.raises(JobNotFoundError):
        await flow.cancel("answer-does-not-exist")


async def test_cancel_of_a_closed_job_says_so(flow: GenAIFlowClient) -> None:
    started = await flow.start(Pipeline.ANSWER, AnswerRequest(question="closed"))
    await flow.handle(started.job_id).terminate(reason="test")
    with pytest.raises(JobClosedError, match="already failed"):
        await flow.cancel(started.job_id)


async def test_jobs_lists_by_status_and_pipeline(flow: GenAIFlowClient) -> None:
    started = await flow.start(Pipeline.ANSWER, AnswerRequest(question="list me"))
    await flow.handle(started.job_id).terminate(reason="done")
    # Visibility is eventually consistent: poll briefly.
    for _ in range(50):
        failed = await flow.jobs(status=JobStatus.FAILED, pipeline=Pipeline.ANSWER, limit=200)
        if any(j.job_id == started.job_id for j in failed):
            break
        await asyncio.sleep(0.2)
    assert any(j.job_id == started.job_id for j in failed)
    assert all(j.status is JobStatus.FAILED and j.pipeline is Pipeline.ANSWER for j in failed)
    everything = await flow.jobs(limit=500)  # no filter: every pipeline's jobs, newest first
    assert any(j.job_id == started.job_id for j in everything)
    created = [j.created_at for j in everything if j.created_at]
    assert created == sorted(created, reverse=True)


async def test_ingestion_starts_share_the_clients_one_redis_connection(flow: GenAIFlowClient, unique: str) -> None:
    # A folder of 20 files, or a webhook's batch, used to open (and close) a Redis connection per object.

    def obj(n: int) -> ObjectVersion:
        return ObjectVersion(uri=f"file:///nowhere/{unique}/{n}.md", version=f"v{n}", sequencer=f"{n:04x}")

    observer = redis_client(flow.settings)
    try:
        before = int((await observer.info("stats"))["total_connections_received"])
        removed = [await flow.remove(obj(n), f"c-{unique}") for n in range(20)]  # never indexed: nothing to start
        started = [await flow.ingest(obj(n), f"c-{unique}") for n in range(2)]
        after = int((await observer.info("stats"))["total_connections_received"])
    finally:
        await observer.aclose()
        await flow.aclose()
    assert {r.reason for r in removed if isinstance(r, IgnoredEvent)} == {"not indexed, nothing to remove"}
    assert all(isinstance(s, IngestJob) and not s.duplicate for s in started)
    assert after - before <= 3, f"{after - before} Redis connections for 22 ingestion starts"
