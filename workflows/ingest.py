"""IngestDocument: extract text → chunk → embed (bounded fan-out) → index, for one object version, durably.

Text, chunks and vectors stay in the claim store; history holds references and counts (docs/ingestion.md), so a
50 MB document costs a few dozen events. An ObjectRemoved event runs the same workflow with `action=remove`.
Progress events cost no command of their own: each step's activity publishes its step events, and JobCloser's
closing local activity the one terminal event, so recorded histories replay unchanged.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.retry import BACKOFF, DEFAULT_STEP_DEADLINE_S, MAX_ATTEMPTS, inference_activity_options
    from schemas import queues
    from schemas import search_attributes as sa
    from schemas.failures import FailureType
    from schemas.ingest import IngestAction, IngestOutcome, IngestRequest, IngestResult
    from schemas.ingest_steps import (
        ChunkRequest,
        ChunkResult,
        EmbedChunksRequest,
        EmbedChunksResult,
        ExtractRequest,
        ExtractResult,
        IndexRequest,
        IndexResult,
        RemoveRequest,
    )
    from schemas.jobs import Pipeline
    from workflows.closing import JobCloser
    from workflows.ledger import Ledger, seconds

M = TypeVar("M", bound=BaseModel)
EMBED_PARALLELISM = 4  # embed_chunks activities in flight per document: bounded fan-out
GROUP_SIZE = 2048  # chunks per embed_chunks activity (16 requests of 128): few activities even for 50 MB
SUPERSEDED = "Superseded"
# What `job.completed` says besides cost and tokens: the outcome, why, and the document's counts.
CLOSING_COUNTS = {"outcome", "reason", "content_type", "pages", "chars", "chunks", "removed_chunks"}
IO_OPTIONS: dict[str, Any] = {
    "start_to_close_timeout": timedelta(minutes=15),
    "heartbeat_timeout": timedelta(seconds=30),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=BACKOFF,
        maximum_interval=timedelta(seconds=60),
        maximum_attempts=MAX_ATTEMPTS,
        non_retryable_error_types=[FailureType.PERMANENT.value, SUPERSEDED],
    ),
}


@workflow.defn(name="IngestDocument")
class IngestDocument:
    """Index one object version into a collection (or remove an object's chunks), with dead letters on give-up."""

    def __init__(self) -> None:
        self.ledger = Ledger(None)
        self.io_queue = queues.IO
        self.inference_queue = queues.INFERENCE
        self.claim_prefix = ""
        self.result: IngestResult | None = None
        self.closer = JobCloser(Pipeline.INGEST, self.ledger)

    @workflow.run
    async def run(self, req: IngestRequest) -> IngestResult:
        """The pipeline; a `Permanent` extract failure or a step that gives up dead-letters the job."""
        info = workflow.info()
        self.io_queue = queues.sibling(info.task_queue, queues.IO)
        self.inference_queue = queues.sibling(info.task_queue, queues.INFERENCE)
        self.claim_prefix = f"{info.workflow_id}/{info.run_id}"
        closer = self.closer
        self.result = IngestResult(
            uri=req.uri, collection=req.collection, version=req.version, outcome=IngestOutcome.INDEXED
        )
        started = workflow.time()
        try:
            if req.action is IngestAction.REMOVE:
                await self.remove(req)
            else:
                await self.index_version(req)
        except ActivityError as err:
            if not _superseded(err):
                await self.drop_claims(req)
                await closer.fail(req, err)
                raise
            self.result.outcome, self.result.reason = IngestOutcome.SUPERSEDED, _message(err)
        except Exception as err:
            await self.drop_claims(req)
            await closer.fail(req, err)
            raise
        await self.drop_claims(req)
        finished = await closer.finish("job.completed", self.result.model_dump(mode="json", include=CLOSING_COUNTS))
        return self.result.model_copy(
            update={
                "steps": finished.steps,
                "usage": self.ledger.total,
                "cost_usd": finished.cost_usd,
                "duration_ms": (workflow.time() - started) * 1000,
            }
        )

    async def index_version(self, req: IngestRequest) -> None:
        """extract_text → chunk → embed → index_chunks."""
        assert self.result is not None
        extracted = await self.io(
            "extract_text",
            ExtractRequest(
                uri=req.uri,
                version=req.version,
                version_id=req.version_id,
                etag=req.etag,
                claim_prefix=self.claim_prefix,
            ),
            ExtractResult,
            f"extract_text: {_default_source(req.uri)[-60:]}",
        )
        self.result.content_type, self.result.pages, self.result.chars = (
            extracted.content_type,
            extracted.pages,
            extracted.chars,
        )
        source = req.source or _default_source(req.uri)
        chunked = await self.io(
            "chunk",
            ChunkRequest(
                text=extracted.text,
                uri=req.uri,
                version=req.version,
                source=source,
                claim_prefix=self.claim_prefix,
                group_size=GROUP_SIZE,
            ),
            ChunkResult,
            f"chunk: {extracted.chars} chars",
        )
        vectors = await self.embed(req, chunked)
        indexed = await self.io(
            "index_chunks",
            IndexRequest(
                collection=req.collection,
                uri=req.uri,
                version=req.version,
                sequencer=req.sequencer,
                source=source,
                job_id=workflow.info().workflow_id,
                groups=chunked.groups,
                vectors=[v.vectors for v in vectors],
            ),
            IndexResult,
            f"index: {chunked.chunks} chunks into {req.collection}",
        )
        self.result.outcome, self.result.reason = indexed.outcome, indexed.reason
        self.result.chunks, self.result.removed_chunks = indexed.chunks, indexed.removed_chunks

    async def embed(self, req: IngestRequest, chunked: ChunkResult) -> list[EmbedChunksResult]:
        """One embed_chunks activity per chunk group, at most EMBED_PARALLELISM at once; usage booked as one step."""
        deadline = seconds(req.step_deadline_s, DEFAULT_STEP_DEADLINE_S)
        # A group makes up to 16 sequential calls: its attempt may take longer than a single call's timeout.
        options = {**inference_activity_options(deadline), "start_to_close_timeout": timedelta(minutes=10)}
        gate = asyncio.Semaphore(EMBED_PARALLELISM)
        began = workflow.time()
        owner = workflow.info().typed_search_attributes.get(sa.OWNER) or ""

        async def one(group: int) -> EmbedChunksResult:
            async with gate:
                # Events per group (`embed#<group>`), never per request batch: see activities/ingest_embed.py.
                call = EmbedChunksRequest(
                    step="embed",
                    chunks=chunked.groups[group],
                    group=group,
                    claim_prefix=self.claim_prefix,
                    total=chunked.chunks,
                    owner=owner,
                )
                result: EmbedChunksResult = await workflow.execute_activity(
                    "embed_chunks",
                    call,
                    result_type=EmbedChunksResult,
                    task_queue=self.inference_queue,
                    summary=f"embed: group {group + 1}/{len(chunked.groups)}",
                    **options,
                )
                return result

        try:
            results = list(await asyncio.gather(*(one(g) for g in range(len(chunked.groups)))))
        except ActivityError:
            self.closer.failed("embed")
            raise
        if results:
            usage = results[0].usage
            for result in results[1:]:
                usage = usage + result.usage
            self.ledger.add("embed", usage, began)
        return results

    async def remove(self, req: IngestRequest) -> None:
        """remove_document: the object's chunks go, unless a later event re-created it."""
        assert self.result is not None
        removed = await self.io(
            "remove_document",
            RemoveRequest(
                collection=req.collection, uri=req.uri, sequencer=req.sequencer, job_id=workflow.info().workflow_id
            ),
            IndexResult,
            f"remove: {_default_source(req.uri)[-60:]} from {req.collection}",
        )
        self.result.outcome, self.result.reason = removed.outcome, removed.reason
        self.result.removed_chunks = removed.removed_chunks

    async def io(self, activity: str, arg: BaseModel, result_type: type[M], summary: str) -> M:
        """One step on genai-io; on failure the closer names it in the dead letter."""
        try:
            result: M = await workflow.execute_activity(
                activity, arg, result_type=result_type, task_queue=self.io_queue, summary=summary, **IO_OPTIONS
            )
        except ActivityError:
            self.closer.failed(activity)
            raise
        return result

    async def drop_claims(self, req: IngestRequest) -> None:
        """Delete the run's claims (best effort: a failure here must not change the job's outcome)."""
        if req.action is IngestAction.REMOVE:
            return
        try:
            await workflow.execute_activity(
                "drop_claims",
                self.claim_prefix,
                task_queue=self.io_queue,
                summary="drop claims",
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=RetryPolicy(maximum_attempts=3),
            )
        except ActivityError as err:
            workflow.logger.warning("claims of %s not dropped: %s", self.claim_prefix, err)


def _superseded(err: ActivityError) -> bool:
    return isinstance(err.cause, ApplicationError) and err.cause.type == SUPERSEDED


def _message(err: ActivityError) -> str:
    return err.cause.message if isinstance(err.cause, ApplicationError) else str(err)


def _default_source(uri: str) -> str:
    """What answers cite when the starter named nothing: the S3 key, or the file's name."""
    if uri.startswith("s3://"):
        return uri[5:].split("/", 1)[-1]
    return uri.rstrip("/").rsplit("/", 1)[-1]
