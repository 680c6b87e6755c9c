"""Starting IngestDocument runs: version checks against the index's record, derived ids, duplicates (CONTRACTS.md).

A start is "unchanged" only when the index's current version of (collection, uri) is this one; an event older
(by S3 sequencer) than what the index holds is ignored; otherwise the job id is a hash of (collection, uri,
version, generation), started with REJECT_DUPLICATE, so redeliveries answer with the same job marked `duplicate`,
A → B → A re-indexes A (the generation moved on), and one object can go into two collections.

`Ingestion` is a collaborator of `GenAIFlowClient` (`client.ingestion`): the client owns it and the one Redis client
it reads records with, so a folder, a webhook's batch or a gateway's lifetime of requests share one connection pool.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Protocol

from pydantic import BaseModel

from runtime.documents import DocumentRegistry
from runtime.s3events import sequencer_older
from schemas.ingest import (
    DocumentState,
    IngestAccepted,
    IngestAction,
    IngestJob,
    IngestRequest,
    ObjectVersion,
    supported,
)
from schemas.jobs import JobStarted, Pipeline
from schemas.s3events import EventAction, IgnoredEvent, ObjectEvent, ParsedEvents

REMOVED_VERSION = "removed"
START_CONCURRENCY = 8  # workflow starts in flight at once for one notification (more only contend for the server)


def ingest_job_id(collection: str, uri: str, version: str, generation: int, action: IngestAction) -> str:
    """`ingest-<hex>`: the id of the run that brings (collection, uri) to version from generation."""
    token = REMOVED_VERSION if action is IngestAction.REMOVE else version
    digest = hashlib.sha256(json.dumps([collection, uri, token, generation]).encode()).hexdigest()
    return f"{Pipeline.INGEST.value}-{digest[:32]}"


def object_version(event: ObjectEvent) -> ObjectVersion:
    """The ObjectVersion an S3 event announces."""
    return ObjectVersion(
        uri=event.uri,
        version=event.version or "",
        version_id=event.version_id,
        etag=event.etag,
        sequencer=event.sequencer,
        size=event.size,
    )


def decide(state: DocumentState | None, obj: ObjectVersion, action: IngestAction) -> str | None:
    """Why this start must not happen (a reason a person reads), or None to go ahead."""
    if state is None:
        return "not indexed, nothing to remove" if action is IngestAction.REMOVE else None
    if sequencer_older(obj.sequencer, state.sequencer):
        what = "removal" if state.removed else f"version {state.version}"
        return f"out of order: a later event ({what}, sequencer {state.sequencer}) is already applied"
    if action is IngestAction.REMOVE and state.removed and obj.sequencer != state.sequencer:
        return "already removed"
    return None


def unchanged(state: DocumentState | None, obj: ObjectVersion, action: IngestAction) -> bool:
    """True when the index already reflects this object version (or this very removal)."""
    if state is None or not state.job_id:
        return False
    if action is IngestAction.REMOVE:
        return state.removed and obj.sequencer == state.sequencer
    return not state.removed and state.version == obj.version


class JobStarter(Protocol):
    """What ingestion needs of the client that owns it: start a run under a derived id, and a job's URLs."""

    def urls(self, job_id: str) -> tuple[str, str]:
        """The status and events URLs of a job."""
        ...

    async def start(
        self,
        pipeline: Pipeline,
        request: BaseModel,
        *,
        job_id: str | None = ...,
        owner: str | None = ...,
        check_request: bool = ...,
    ) -> JobStarted:
        """Start a job (a repeated id returns the existing one marked `duplicate`)."""
        ...


class Ingestion:
    """Starts IngestDocument runs for one client, reading the index's records through that client's Redis client."""

    def __init__(self, jobs: JobStarter, registry: DocumentRegistry) -> None:
        self.jobs = jobs
        self.registry = registry

    async def start(
        self,
        obj: ObjectVersion,
        collection: str,
        action: IngestAction = IngestAction.INDEX,
        owner: str | None = None,
    ) -> IngestJob | IgnoredEvent:
        """Start (or find) the run for one object version; an IgnoredEvent says why nothing was started."""
        return await self._start(await self.registry.get(collection, obj.uri), obj, collection, action, owner)

    async def _start(
        self,
        state: DocumentState | None,
        obj: ObjectVersion,
        collection: str,
        action: IngestAction,
        owner: str | None,
    ) -> IngestJob | IgnoredEvent:
        """`start` given the index's record of the object, read beforehand."""
        if not obj.version and action is IngestAction.INDEX:
            return IgnoredEvent(key=obj.uri, reason="the event names no version, ETag or sequencer")
        if unchanged(state, obj, action):
            assert state is not None
            status_url, events_url = self.jobs.urls(state.job_id)
            return IngestJob(
                job_id=state.job_id,
                status_url=status_url,
                events_url=events_url,
                duplicate=True,
                unchanged=True,
                uri=obj.uri,
            )
        if (reason := decide(state, obj, action)) is not None:
            return IgnoredEvent(key=obj.uri, reason=reason)
        generation = state.generation if state else 0
        request = IngestRequest(**obj.model_dump(), collection=collection, action=action, generation=generation)
        job_id = ingest_job_id(collection, obj.uri, obj.version, generation, action)
        # Redeliveries may differ in fields that do not make the version (size, event time): never a conflict.
        started = await self.jobs.start(Pipeline.INGEST, request, job_id=job_id, owner=owner, check_request=False)
        return IngestJob(**started.model_dump(), uri=obj.uri)

    async def start_uri(self, uri: str, collection: str, owner: str | None = None) -> IngestJob | IgnoredEvent:
        """Start ingesting the object's current version (`POST /v1/ingestions`): HEAD it, then start as usual.

        Raises runtime.objectstore.ObjectNotFoundError for a missing object; callers check allow-lists first.
        """
        from runtime.objectstore import ObjectStore, file_uri, is_s3, local_path

        if not supported(uri):
            return IgnoredEvent(key=uri, reason="unsupported file type (txt, md, rst, html, pdf are ingested)")
        if not is_s3(uri):
            uri = file_uri(local_path(uri))
        async with ObjectStore() as store:
            info = await store.head(uri)
        return await self.start(info.as_version(), collection, owner=owner)

    async def start_from_events(
        self,
        parsed: ParsedEvents,
        collection: str,
        allowed_buckets: list[str] | None = None,
        owner: str | None = None,
    ) -> IngestAccepted:
        """One start per object event (ingest or remove); unsupported, disallowed and stale ones listed as ignored.

        Starts run concurrently (at most START_CONCURRENCY at once), so a notification of many records is answered
        in about the time of one start; jobs and ignored events keep the order of the records.
        """
        outcomes: list[IngestJob | IgnoredEvent | None] = []
        starts: list[tuple[int, ObjectEvent]] = []
        for event in parsed.objects:
            if allowed_buckets is not None and "*" not in allowed_buckets and event.bucket not in allowed_buckets:
                reason = f"bucket {event.bucket!r} is not in GENAI_FLOW_ALLOWED_BUCKETS"
                outcomes.append(IgnoredEvent(key=event.key, reason=reason))
            elif event.action is EventAction.INGEST and not supported(event.key):
                reason = "unsupported file type (txt, md, rst, html, pdf are ingested)"
                outcomes.append(IgnoredEvent(key=event.key, reason=reason))
            else:
                starts.append((len(outcomes), event))
                outcomes.append(None)
        gate = asyncio.Semaphore(START_CONCURRENCY)
        # Every record's index entry in one round trip, not one per record.
        states = await self.registry.get_many(collection, [event.uri for _, event in starts])

        async def start_one(event: ObjectEvent, state: DocumentState | None) -> IngestJob | IgnoredEvent:
            action = IngestAction.REMOVE if event.action is EventAction.REMOVE else IngestAction.INDEX
            async with gate:
                outcome = await self._start(state, object_version(event), collection, action, owner)
            return outcome.model_copy(update={"key": event.key}) if isinstance(outcome, IgnoredEvent) else outcome

        pending = [start_one(event, state) for (_, event), state in zip(starts, states, strict=True)]
        started = await asyncio.gather(*pending)
        for (slot, _), outcome in zip(starts, started, strict=True):
            outcomes[slot] = outcome
        accepted = IngestAccepted(ignored=list(parsed.ignored))
        for item in outcomes:
            if isinstance(item, IgnoredEvent):
                accepted.ignored.append(item)
            elif item is not None:
                accepted.jobs.append(item)
        return accepted
