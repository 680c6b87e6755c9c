"""IngestDocument's request and result, the index's record of each document, and what starting ingestion returns."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import PurePosixPath

from pydantic import BaseModel, Field

from schemas.answer import StepUsage
from schemas.defaults import DEFAULT_COLLECTION
from schemas.fields import CollectionName
from schemas.jobs import JobStarted
from schemas.s3events import IgnoredEvent
from schemas.usage import Usage

SUPPORTED_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".rst", ".html", ".htm", ".pdf"})


def supported(path_or_key: str) -> bool:
    """True when extract_text has a parser for the name's extension."""
    return PurePosixPath(path_or_key).suffix.lower() in SUPPORTED_SUFFIXES


class IngestAction(StrEnum):
    """What one IngestDocument run does to (collection, uri)."""

    INDEX = "index"
    REMOVE = "remove"


class ObjectVersion(BaseModel):
    """One version of one object, as an event or a listing names it."""

    uri: str
    version: str  # the identity the index compares: S3 versionId, else ETag, else sequencer; file: content sha256
    version_id: str | None = None  # S3 versionId, to read exactly this version
    etag: str | None = None  # read with If-Match when there is no versionId
    sequencer: str | None = None  # S3 event order (hex); None when there is none (listings, local files)
    size: int | None = None
    source: str | None = None  # the name answers cite; default: the S3 key, or the file's name


class IngestRequest(ObjectVersion):
    """IngestDocument's input: index (or remove) one object version in a collection."""

    collection: CollectionName = DEFAULT_COLLECTION
    action: IngestAction = IngestAction.INDEX
    generation: int = 0  # the document's generation when the start was decided (part of the job id)
    step_deadline_s: float | None = None


class IngestOutcome(StrEnum):
    """How an IngestDocument run ended."""

    INDEXED = "indexed"  # this version's chunks are in the index and it is the document's current version
    REMOVED = "removed"  # the document's chunks were deleted
    SUPERSEDED = "superseded"  # a later event won meanwhile (or the object changed/disappeared): nothing kept
    NOT_INDEXED = "not_indexed"  # a removal for a document the index does not hold
    EMPTY = "empty"  # the version holds no text: it is the current version, with no chunks to find


EMPTY_REASON = "the document has no text to index (it is empty or only whitespace)"


class IngestResult(BaseModel):
    """IngestDocument's result: counts and references only (the text and vectors never enter history)."""

    uri: str
    collection: str
    version: str
    outcome: IngestOutcome
    reason: str = ""
    content_type: str = ""
    pages: int = 0
    chars: int = 0
    chunks: int = 0
    removed_chunks: int = 0
    steps: list[StepUsage] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float = 0.0
    duration_ms: float = 0.0


class DocumentState(BaseModel):
    """The index's record of one (collection, uri): its current version and the run that made it so."""

    collection: str
    uri: str
    version: str | None = None  # None once removed
    sequencer: str | None = None
    generation: int = 0  # +1 every time the current version changes (or the document is removed)
    job_id: str = ""
    chunks: int = 0
    removed: bool = False
    updated_at: datetime | None = None


class IngestJob(JobStarted):
    """One started (or already running / already indexed) ingestion: the webhook's and `ingest --json`'s rows."""

    uri: str
    unchanged: bool = False  # the index already holds this version: job_id is the run that indexed it


class IngestAccepted(BaseModel):
    """`POST /v1/events/s3` 202 body and `ingest --json` without --wait: jobs started, objects ignored."""

    jobs: list[IngestJob] = Field(default_factory=list)
    ignored: list[IgnoredEvent] = Field(default_factory=list)
