"""The vector index client (Chroma over HTTP): we always supply vectors, Chroma never embeds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import chromadb
import numpy as np
from chromadb.api.async_api import AsyncClientAPI
from chromadb.api.models.AsyncCollection import AsyncCollection
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import NotFoundError

from runtime.settings import Settings, get_settings
from schemas.answer import RetrievedChunk


class EmptyCollectionError(LookupError):
    """The collection holds no chunks (nothing was ingested into it)."""

    def __init__(self, collection: str) -> None:
        super().__init__(f"collection {collection!r} is empty: ingest documents into it first")
        self.collection = collection


@dataclass(frozen=True)
class IndexedChunk:
    """One chunk to upsert: id, text, vector and flat metadata."""

    chunk_id: str
    text: str
    vector: Sequence[float]
    metadata: dict[str, str | int | float | bool]


class VectorIndex:
    """Upserts and nearest-neighbour queries against one Chroma server."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self._client: AsyncClientAPI | None = None
        self._max_batch: int | None = None
        self._collections: dict[str, AsyncCollection] = {}

    @classmethod
    async def connect(cls, settings: Settings | None = None) -> VectorIndex:
        """A connected index for GENAI_FLOW_CHROMA_URL (fails now if Chroma does not answer)."""
        index = cls(settings)
        await index.client()
        return index

    async def client(self) -> AsyncClientAPI:
        """The Chroma client, connected on first use (so workers can build activities before Chroma is up)."""
        if self._client is None:
            url = urlparse(self.settings.chroma_url)
            self._client = await chromadb.AsyncHttpClient(
                host=url.hostname or "127.0.0.1",
                port=url.port or (443 if url.scheme == "https" else 80),
                ssl=url.scheme == "https",
                # No network here, and no phoning home anywhere.
                settings=ChromaSettings(anonymized_telemetry=False),
            )
        return self._client

    async def collection(self, name: str) -> AsyncCollection:
        """Get or create a collection; embedding_function=None so Chroma never downloads a model."""
        return await (await self.client()).get_or_create_collection(
            name, embedding_function=None, metadata={"hnsw:space": "cosine"}
        )

    async def _existing(self, name: str, refresh: bool = False) -> AsyncCollection:
        if refresh or name not in self._collections:
            try:
                self._collections[name] = await (await self.client()).get_collection(name, embedding_function=None)
            except NotFoundError:
                raise EmptyCollectionError(name) from None
        return self._collections[name]

    async def max_batch_size(self) -> int:
        """The server's maximum upsert batch, asked once."""
        if self._max_batch is None:
            self._max_batch = int(await (await self.client()).get_max_batch_size())
        return self._max_batch

    async def upsert(self, collection: str, chunks: Sequence[IndexedChunk]) -> int:
        """Upsert chunks in batches no larger than the server allows; returns how many were written."""
        coll = await self.collection(collection)
        step = await self.max_batch_size()
        for start in range(0, len(chunks), step):
            batch = chunks[start : start + step]
            await coll.upsert(
                ids=[c.chunk_id for c in batch],
                embeddings=np.asarray([c.vector for c in batch], dtype=np.float32),
                documents=[c.text for c in batch],
                metadatas=[c.metadata or {"_": ""} for c in batch],
            )
        return len(chunks)

    async def query(self, collection: str, vector: Sequence[float], top_k: int) -> list[RetrievedChunk]:
        """The top_k chunks nearest to vector, best first (score = 1 - cosine distance).

        One HTTP round trip on the hot path: the collection handle is cached (a query never creates one), and
        Chroma returns what there is when a collection holds fewer than top_k chunks.
        """
        found: Any = None
        for attempt in range(2):
            coll = await self._existing(collection, refresh=attempt > 0)
            try:
                found = await coll.query(
                    query_embeddings=np.asarray([vector], dtype=np.float32),
                    n_results=top_k,
                    include=["documents", "metadatas", "distances"],
                )
                break
            except NotFoundError:  # dropped and created again since we cached its handle
                if attempt:
                    raise EmptyCollectionError(collection) from None
        if not found or not found["ids"][0]:
            raise EmptyCollectionError(collection)
        ids, docs = found["ids"][0], found["documents"][0]
        metas, dists = found["metadatas"][0], found["distances"][0]
        return [
            RetrievedChunk(chunk_id=i, text=d or "", source=str((m or {}).get("source", "")), score=1.0 - float(s))
            for i, d, m, s in zip(ids, docs, metas, dists, strict=True)
        ]

    async def ids_where(self, collection: str, where: dict[str, Any]) -> list[str]:
        """Ids of the chunks whose metadata match a Chroma `where` filter."""
        found = await (await self.collection(collection)).get(where=where, include=[])
        return list(found["ids"])

    async def delete_ids(self, collection: str, ids: Sequence[str]) -> int:
        """Delete chunks by id, in batches no larger than the server allows; returns how many were asked."""
        coll = await self.collection(collection)
        step = await self.max_batch_size()
        for start in range(0, len(ids), step):
            await coll.delete(ids=list(ids[start : start + step]))
        return len(ids)

    async def count(self, collection: str) -> int:
        """How many chunks a collection holds."""
        return int(await (await self.collection(collection)).count())

    async def delete_collection(self, collection: str) -> None:
        """Drop a collection (tests, re-indexing)."""
        self._collections.pop(collection, None)
        await (await self.client()).delete_collection(collection)
