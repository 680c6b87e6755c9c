"""What IngestDocument's steps pass each other: claim references and counts, never text or vectors.

The text, the chunks and the vectors are objects in the claim store (`runtime/claims.py`); a `ClaimRef` names one
with its checksum, so the workflow's history holds a few hundred bytes per step whatever the document's size.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from schemas.inference import InferenceCall
from schemas.ingest import IngestOutcome
from schemas.usage import Usage


class ClaimRef(BaseModel):
    """One object in the claim store: where it is, how big, and its sha256 (checked on every read)."""

    uri: str
    sha256: str
    size: int


class ExtractedText(BaseModel):
    """The extract step's claim: the document's text and where each page starts in it (one page for non-PDFs)."""

    text: str
    page_starts: list[int] = Field(default_factory=lambda: [0])
    content_type: str = "text/plain"


class Chunk(BaseModel):
    """One chunk: a stable id, its text, its span in the extracted text and the pages it covers (1-based)."""

    chunk_id: str
    text: str
    start: int
    end: int
    page: int  # where the chunk starts
    last_page: int  # where it ends (a chunk may run across a page break)


class ChunkGroup(BaseModel):
    """A claim holding consecutive chunks: the unit one embed activity handles."""

    first: int  # ordinal of its first chunk in the document
    chunks: list[Chunk]


class ExtractRequest(BaseModel):
    """Read one object version and turn it into text."""

    uri: str
    version: str
    version_id: str | None = None
    etag: str | None = None
    claim_prefix: str  # where this run's claims go, under the claim store's base


class ExtractResult(BaseModel):
    """The extracted text's claim and its size."""

    text: ClaimRef
    content_type: str
    pages: int
    chars: int


class ChunkRequest(BaseModel):
    """Split the extracted text into overlapping chunks, written as groups of `group_size`."""

    text: ClaimRef
    uri: str
    version: str
    source: str  # the name answers cite (an S3 key, a path)
    claim_prefix: str
    group_size: int = Field(2048, ge=128, multiple_of=128)  # whole embedding request batches
    max_chars: int = Field(800, ge=100)
    overlap_chars: int = Field(100, ge=0)


class ChunkResult(BaseModel):
    """The chunk groups (claims) and how many chunks there are."""

    groups: list[ClaimRef]
    chunks: int


class EmbedChunksRequest(InferenceCall):
    """Embed one chunk group through the never-pay-twice path (one idempotent call per request batch).

    `emit_events` governs the group's own `step.started` / `step.completed` (`<step>#<group>`); the request
    batches inside it never publish events of their own.
    """

    chunks: ClaimRef
    group: int
    claim_prefix: str
    total: int | None = None  # chunks in the whole document: the `total` of the group's progress events
    owner: str = ""  # the job's owner key id: the model router shares an endpoint's bulk part fairly between keys


class EmbedBatchResult(BaseModel):
    """One request batch's vectors (a claim) and usage: what the idempotency store keeps for that call."""

    vectors: ClaimRef
    usage: Usage


class EmbedChunksResult(BaseModel):
    """The group's vectors (one claim, rows in chunk order) and the usage of its calls."""

    vectors: ClaimRef
    count: int
    usage: Usage


class IndexRequest(BaseModel):
    """Make this version the document's current one: upsert its chunks, drop older versions' chunks."""

    collection: str
    uri: str
    version: str
    sequencer: str | None = None
    source: str
    job_id: str
    groups: list[ClaimRef]
    vectors: list[ClaimRef]


class RemoveRequest(BaseModel):
    """Delete a document's chunks (an ObjectRemoved event), unless a later event superseded the removal."""

    collection: str
    uri: str
    sequencer: str | None = None
    job_id: str


class IndexResult(BaseModel):
    """What the index or remove step did."""

    outcome: IngestOutcome
    reason: str = ""
    chunks: int = 0
    removed_chunks: int = 0
