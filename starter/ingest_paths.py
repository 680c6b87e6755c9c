"""Ingesting a file, a folder or an s3:// prefix: which objects, one job each, and the report once all closed.

`genai-flow ingest PATH|s3://bucket/prefix` prints these models (`--json`); the demo and scripts call it the same way.

Hidden files (any path part starting with `.`) and unsupported extensions are skipped and listed under `ignored`;
a supported file that fails to parse is started anyway and dead-lettered by the pipeline with its reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import PurePosixPath

from pydantic import BaseModel, Field

from runtime.objectstore import ObjectNotFoundError, ObjectStore, is_s3, local_path, split_s3
from schemas.ingest import IngestJob, IngestOutcome, ObjectVersion, supported
from schemas.jobs import JobInfo, JobStatus
from schemas.s3events import IgnoredEvent
from starter.client import GenAIFlowClient

POLL_S = 0.5


class IgnoredPath(BaseModel):
    """A file or object `ingest` left alone, and why."""

    path: str
    reason: str


class IngestStarted(BaseModel):
    """`ingest --json` without --wait: the webhook's shape with paths."""

    jobs: list[IngestJob] = Field(default_factory=list)
    ignored: list[IgnoredPath] = Field(default_factory=list)


class IngestSummary(BaseModel):
    """How the jobs of one `ingest --wait` ended."""

    indexed: int = 0
    unchanged: int = 0
    failed: int = 0
    empty: int = 0  # indexed with no text to find (outcome `empty`): not a failure, but worth a look


class IngestReport(BaseModel):
    """`ingest --wait --json`: every job's JobInfo, what was ignored, and the summary."""

    jobs: list[JobInfo] = Field(default_factory=list)
    ignored: list[IgnoredPath] = Field(default_factory=list)
    summary: IngestSummary = Field(default_factory=IngestSummary)


async def collect(store: ObjectStore, target: str) -> tuple[list[ObjectVersion], list[IgnoredPath]]:
    """The objects under target (a file, a folder, or an s3:// prefix) to ingest, and those skipped with a reason."""
    if not is_s3(target) and not local_path(target).exists():
        raise ObjectNotFoundError(f"no such file or directory: {local_path(target).resolve()}")
    chosen: list[ObjectVersion] = []
    ignored: list[IgnoredPath] = []
    async for info in store.list(target):
        shown = _shown(info.uri, target)
        if any(part.startswith(".") for part in PurePosixPath(shown).parts):
            ignored.append(IgnoredPath(path=shown, reason="hidden file"))
        elif not supported(shown):
            ignored.append(
                IgnoredPath(path=shown, reason="unsupported file type (txt, md, rst, html, pdf are ingested)")
            )
        elif info.uri.endswith("/"):
            ignored.append(IgnoredPath(path=shown, reason="a folder marker, not a document"))
        else:
            chosen.append(info.as_version().model_copy(update={"source": shown}))
    return chosen, ignored


def _shown(uri: str, target: str) -> str:
    """The name a person recognises: the S3 key, or the path relative to the folder given (a file: its name)."""
    if is_s3(uri):
        return split_s3(uri)[1]
    root = local_path(target).resolve()
    path = local_path(uri)
    return path.name if root.is_file() else str(path.relative_to(root))


async def start_all(client: GenAIFlowClient, target: str, collection: str) -> IngestStarted:
    """Collect the objects and start (or find) one job each."""
    async with ObjectStore() as store:
        objects, ignored = await collect(store, target)
    started = IngestStarted(ignored=ignored)
    for obj in objects:
        outcome = await client.ingest(obj, collection, owner=None)
        if isinstance(outcome, IgnoredEvent):
            started.ignored.append(IgnoredPath(path=obj.source or obj.uri, reason=outcome.reason))
        else:
            started.jobs.append(outcome)
    return started


async def wait_all(
    client: GenAIFlowClient, started: IngestStarted, on_progress: Callable[[int, int], None] | None = None
) -> IngestReport:
    """Wait for every job to close (polling), then return their JobInfo and the summary."""
    pending = {job.job_id for job in started.jobs if not job.unchanged}
    total = len(started.jobs)
    while pending:
        for job_id in sorted(pending):
            if (await client.status(job_id, with_steps=False)).status.closed:
                pending.discard(job_id)
        if on_progress is not None:
            on_progress(total - len(pending), total)
        if pending:
            await asyncio.sleep(POLL_S)
    infos = list(await asyncio.gather(*(client.status(job.job_id) for job in started.jobs)))
    report = IngestReport(jobs=infos, ignored=started.ignored)
    for job, info in zip(started.jobs, infos, strict=True):
        match outcome_of(job, info):
            case "indexed" | "removed":
                report.summary.indexed += 1
            case "unchanged" | "superseded" | "not_indexed":
                report.summary.unchanged += 1
            case "empty":
                report.summary.empty += 1
            case _:
                report.summary.failed += 1
    return report


def outcome_of(job: IngestJob, info: JobInfo) -> str:
    """One word for the table: indexed, empty, unchanged, superseded, dead_lettered, failed (or the job's status)."""
    if job.unchanged:
        return "unchanged"
    if info.status is JobStatus.COMPLETED and info.result:
        return str(info.result.get("outcome", IngestOutcome.INDEXED.value))
    return info.status.value
