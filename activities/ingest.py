"""IngestDocument's I/O steps on `genai-io`: extract_text, chunk, index_chunks, remove_document, drop_claims.

Each reads its input from the claim store and writes its output there, returning references and counts
(`schemas/ingest_steps.py`). CPU-heavy parsing and chunking run in a thread while a background task heartbeats.
Each step publishes `step.started` / `step.completed` (with its counts) to the job's stream (activities/step_events.py).
The index and remove steps change a document only under its lock (`runtime/documents.py`) and only when no later
event has been applied: an older run that finishes last never overwrites a newer version.
"""

from __future__ import annotations

import asyncio
import bisect
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.chunking import chunk_spans
from activities.extraction import UnreadableDocument, extract
from activities.ingest_support import chunk_id, heartbeating, permanent, superseded, transient
from activities.step_events import StepEvents
from runtime.claims import ClaimStore
from runtime.documents import DocumentLock, DocumentRegistry
from runtime.logging import get_logger
from runtime.objectstore import ObjectAccessError, ObjectNotFoundError, ObjectStore, VersionChangedError, is_s3
from runtime.s3events import sequencer_older
from runtime.vectorindex import IndexedChunk, VectorIndex
from schemas.ingest import EMPTY_REASON, DocumentState, IngestOutcome
from schemas.ingest_steps import (
    Chunk,
    ChunkGroup,
    ChunkRequest,
    ChunkResult,
    ClaimRef,
    ExtractedText,
    ExtractRequest,
    ExtractResult,
    IndexRequest,
    IndexResult,
    RemoveRequest,
)

log = get_logger(__name__)


class IngestActivities:
    """The document steps of ingestion; built once per worker from the object store, claims, index and registry."""

    def __init__(
        self, store: ObjectStore, claims: ClaimStore, index: VectorIndex, registry: DocumentRegistry, events: StepEvents
    ) -> None:
        self.store = store
        self.claims = claims
        self.index = index
        self.registry = registry
        self.events = events

    @activity.defn(name="extract_text")
    async def extract_text(self, req: ExtractRequest) -> ExtractResult:
        """Read exactly the announced version and turn it into text (txt, md, html, pdf); the text becomes a claim."""
        await self.events.started("extract_text")
        try:
            data = await self.store.get(
                req.uri,
                version_id=req.version_id,
                etag=req.etag if not req.version_id else None,
                sha256=None if is_s3(req.uri) else req.version,
            )
        except (VersionChangedError, ObjectNotFoundError) as err:
            raise superseded(f"{req.uri} is no longer version {req.version[:16]}: {err}") from None
        except ObjectAccessError as err:
            raise permanent("extract_text", str(err)) from None  # one dead letter per object, not five attempts each
        except Exception as err:
            raise transient("extract_text", err) from err
        try:
            async with heartbeating():
                extracted = await asyncio.to_thread(extract, data, PurePosixPath(req.uri).name)
                del data
                ref = await self._put_text(req.claim_prefix, extracted)
        except UnreadableDocument as err:
            raise permanent("extract_text", str(err)) from None
        except ApplicationError:
            raise
        except Exception as err:
            raise transient("extract_text", err) from err
        pages = len(extracted.page_starts)
        result = ExtractResult(text=ref, content_type=extracted.content_type, pages=pages, chars=len(extracted.text))
        await self.events.completed("extract_text", result.model_dump(include={"content_type", "pages", "chars"}))
        return result

    async def _put_text(self, prefix: str, extracted: ExtractedText) -> ClaimRef:
        payload = await asyncio.to_thread(lambda: extracted.model_dump_json().encode())
        return await self.claims.put(f"{prefix}/text.json", payload)

    @activity.defn(name="chunk")
    async def chunk(self, req: ChunkRequest) -> ChunkResult:
        """Overlapping chunks with stable ids, source offsets and page numbers, written as groups (claims)."""
        await self.events.started("chunk")
        try:
            async with heartbeating():
                extracted = await self.claims.get_model(req.text, ExtractedText)
                chunks = await asyncio.to_thread(_chunks, extracted, req)
                del extracted
                groups = []
                for number, first in enumerate(range(0, len(chunks), req.group_size)):
                    group = ChunkGroup(first=first, chunks=chunks[first : first + req.group_size])
                    groups.append(await self.claims.put_model(f"{req.claim_prefix}/chunks/{number:05d}.json", group))
        except Exception as err:
            raise transient("chunk", err) from err
        await self.events.completed("chunk", {"chunks": len(chunks), "groups": len(groups)})
        return ChunkResult(groups=groups, chunks=len(chunks))

    @activity.defn(name="index_chunks")
    async def index_chunks(self, req: IndexRequest) -> IndexResult:
        """Under the document's lock: unless a later event won, upsert this version's chunks and drop older ones."""
        await self.events.started("index_chunks")
        result = await self._index(req)
        await self.events.completed("index_chunks", result.model_dump(mode="json"))  # outcome, reason and counts
        return result

    async def _index(self, req: IndexRequest) -> IndexResult:
        try:
            async with self.registry.locked(req.collection, req.uri) as lock:
                state = await self.registry.get(req.collection, req.uri)
                if state is not None and sequencer_older(req.sequencer, state.sequencer):
                    reason = f"a later event (sequencer {state.sequencer}) was applied while this run worked"
                    return IndexResult(outcome=IngestOutcome.SUPERSEDED, reason=reason)
                written = await self._upsert(req, lock)
                stale = await self.index.ids_where(
                    req.collection, {"$and": [{"uri": req.uri}, {"version": {"$ne": req.version}}]}
                )
                removed = await self.index.delete_ids(req.collection, stale)
                await self.registry.save(
                    DocumentState(
                        collection=req.collection,
                        uri=req.uri,
                        version=req.version,
                        sequencer=req.sequencer or (state.sequencer if state else None),
                        generation=(state.generation if state else 0) + 1,
                        job_id=req.job_id,
                        chunks=written,
                        updated_at=datetime.now(UTC),
                    )
                )
        except ApplicationError:
            raise
        except Exception as err:
            raise transient("index", err) from err
        log.info("document indexed", uri=req.uri, collection=req.collection, chunks=written, removed=removed)
        if written == 0:
            # Not a failure, but nothing a question can find: the outcome says so instead of a silent "indexed".
            return IndexResult(outcome=IngestOutcome.EMPTY, reason=EMPTY_REASON, removed_chunks=removed)
        return IndexResult(outcome=IngestOutcome.INDEXED, chunks=written, removed_chunks=removed)

    async def _upsert(self, req: IndexRequest, lock: DocumentLock) -> int:
        written = 0
        for group_ref, vectors_ref in zip(req.groups, req.vectors, strict=True):
            group = await self.claims.get_model(group_ref, ChunkGroup)
            vectors = await self.claims.get_vectors(vectors_ref)
            if len(vectors) != len(group.chunks):
                raise ValueError(f"{len(group.chunks)} chunks but {len(vectors)} vectors in group {group.first}")
            rows = [
                IndexedChunk(chunk_id=c.chunk_id, text=c.text, vector=v, metadata=_metadata(req, c))
                for c, v in zip(group.chunks, vectors, strict=True)
            ]
            written += await self.index.upsert(req.collection, rows)
            activity.heartbeat(written)
            await lock.extend()
        return written

    @activity.defn(name="remove_document")
    async def remove_document(self, req: RemoveRequest) -> IndexResult:
        """Under the document's lock: delete its chunks, unless a later event re-created it meanwhile."""
        await self.events.started("remove_document")
        result = await self._remove(req)
        await self.events.completed("remove_document", result.model_dump(mode="json"))
        return result

    async def _remove(self, req: RemoveRequest) -> IndexResult:
        try:
            async with self.registry.locked(req.collection, req.uri):
                state = await self.registry.get(req.collection, req.uri)
                if state is None:
                    return IndexResult(outcome=IngestOutcome.NOT_INDEXED, reason="the index does not hold it")
                if sequencer_older(req.sequencer, state.sequencer):
                    reason = f"re-created by a later event (sequencer {state.sequencer}); kept"
                    return IndexResult(outcome=IngestOutcome.SUPERSEDED, reason=reason)
                stale = await self.index.ids_where(req.collection, {"uri": req.uri})
                removed = await self.index.delete_ids(req.collection, stale)
                await self.registry.save(
                    state.model_copy(
                        update={
                            "version": None,
                            "removed": True,
                            "sequencer": req.sequencer or state.sequencer,
                            "generation": state.generation + 1,
                            "job_id": req.job_id,
                            "chunks": 0,
                            "updated_at": datetime.now(UTC),
                        }
                    )
                )
        except ApplicationError:
            raise
        except Exception as err:
            raise transient("remove", err) from err
        return IndexResult(outcome=IngestOutcome.REMOVED, removed_chunks=removed)

    @activity.defn(name="drop_claims")
    async def drop_claims(self, claim_prefix: str) -> int:
        """Delete a run's claims once it has closed (nothing reads them after that)."""
        return await self.claims.drop(claim_prefix)


def _chunks(extracted: ExtractedText, req: ChunkRequest) -> list[Chunk]:
    spans = chunk_spans(extracted.text, req.max_chars, req.overlap_chars)
    starts = extracted.page_starts
    return [
        Chunk(
            chunk_id=chunk_id(req.source, req.uri, n),
            text=span.text,
            start=span.start,
            end=span.end,
            page=bisect.bisect_right(starts, span.start) or 1,
            last_page=bisect.bisect_right(starts, max(span.end - 1, span.start)) or 1,
        )
        for n, span in enumerate(spans)
    ]


def _metadata(req: IndexRequest, chunk: Chunk) -> dict[str, Any]:
    return {
        "source": req.source,
        "uri": req.uri,
        "version": req.version,
        "page": chunk.page,
        "last_page": chunk.last_page,
        "start": chunk.start,
        "end": chunk.end,
    }
