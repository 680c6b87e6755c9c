"""The vector index client (Chroma over HTTP): we always supply vectors, Chroma never embeds.

Collections are per embedding model (CONTRACTS.md): the Chroma collection behind a logical name such as `docs` is
`docs--<model>` (see `physical_name`), so switching GENAI_FLOW_EMBED_MODEL or the backend never mixes vectors of two
models; the new model's collection is simply empty until documents are ingested again. Inside one collection Chroma
itself refuses a vector of another dimension, which `DimensionMismatchError` reports in words.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import chromadb
import numpy as np
from chromadb.api.async_api import AsyncClientAPI
from chromadb.api.models.AsyncCollection import AsyncCollection
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import ChromaError, NotFoundError

from runtime.settings import Settings, get_settings
from schemas.answer import RetrievedChunk


class EmptyCollectionError(LookupError):
    """The collection holds no chunks for this embedding model (nothing was ingested with it)."""

    def __init__(self, collection: str, model: str | None = None) -> None:
        of_model = f" for embedding model {model!r}" if model else ""
        # The exact command that fills it: people meet this error before they have ingested anything.
        super().__init__(
            f"collection {collection!r} is empty{of_model}: fill it with `genai-flow ingest PATH --collection "
            f"{collection}` (PATH: a file, a folder or s3://bucket/prefix; over HTTP, POST /v1/ingestions)"
        )
        self.collection = collection


class DimensionMismatchError(ValueError):
    """A vector's length differs from the one the collection was built with (another model behind the same name)."""


def physical_name(collection: str, model: str) -> str:
    """The Chroma collection holding `collection`'s vectors of embedding `model`: `<collection>--<model slug>`.

    Chroma allows [a-zA-Z0-9._-]; a model name needing changes (`nomic-embed-text:v1.5`, `org/model`) gets a short
    digest of the exact name so two models never share a slug.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", model.lower()).strip("-") or "model"
    if slug != model.lower():
        slug += "-" + hashlib.sha256(model.encode()).hexdigest()[:6]
    return f"{collection}--{slug}"


def _dimension_error(err: Exception, collection: str, model: str) -> Exception:
    if "dimension" in str(err).lower():
        return DimensionMismatchError(
            f"collection {collection!r} (embedding model {model!r}) was built with vectors of another dimension: "
            f"{err}. Another model is being served under the name {model!r}; use a new collection or "
            "GENAI_FLOW_EMBED_MODEL naming the model actually served"
        )
    return err


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

    def _model(self, model: str | None) -> str:
        return model or self.settings.embed_model

    async def collection(self, name: str, model: str | None = None) -> AsyncCollection:
        """Get or create the collection of `model`'s vectors (default GENAI_FLOW_EMBED_MODEL); Chroma never embeds."""
        model = self._model(model)
        return await (await self.client()).get_or_create_collection(
            physical_name(name, model),
            embedding_function=None,
            metadata={"hnsw:space": "cosine", "collection": name, "embed_model": model},
        )

    async def _existing(self, name: str, model: str, refresh: bool = False) -> AsyncCollection:
        key = physical_name(name, model)
        if refresh or key not in self._collections:
            try:
                self._collections[key] = await (await self.client()).get_collection(key, embedding_function=None)
            except NotFoundError:
                raise EmptyCollectionError(name, model) from None
        return self._collections[key]

    async def max_batch_size(self) -> int:
        """The server's maximum upsert batch, asked once."""
        if self._max_batch is None:
            self._max_batch = int(await (await self.client()).get_max_batch_size())
        return self._max_batch

    async def upsert(self, collection: str, chunks: Sequence[IndexedChunk], model: str | None = None) -> int:
        """Upsert chunks (vectors of `model`) in batches no larger than the server allows; returns how many."""
        model = self._model(model)
        coll = await self.collection(collection, model)
        step = await self.max_batch_size()
        for start in range(0, len(chunks), step):
            batch = chunks[start : start + step]
            try:
                await coll.upsert(
                    ids=[c.chunk_id for c in batch],
                    embeddings=np.asarray([c.vector for c in batch], dtype=np.float32),
                    documents=[c.text for c in batch],
                    metadatas=[c.metadata or {"_": ""} for c in batch],
                )
            except ChromaError as err:
                raise _dimension_error(err, collection, model) from err
        return len(chunks)

    async def query(
        self, collection: str, vector: Sequence[float], top_k: int, model: str | None = None
    ) -> list[RetrievedChunk]:
        """The top_k chunks nearest to vector, best first (score = 1 - cosine distance).

        One HTTP round trip on the hot path: the collection handle is cached (a query never creates one), and
        Chroma returns what there is when a collection holds fewer than top_k chunks.
        """
        model = self._model(model)
        found: Any = None
        for attempt in range(2):
            coll = await self._existing(collection, model, refresh=attempt > 0)
            try:
                found = await coll.query(
                    query_embeddings=np.asarray([vector], dtype=np.float32),
                    n_results=top_k,
                    include=["documents", "metadatas", "distances"],
                )
                break
            except NotFoundError:  # dropped and created again since we cached its handle
                if attempt:
                    raise EmptyCollectionError(collection, model) from None
            except ChromaError as err:
                raise _dimension_error(err, collection, model) from err
        if not found or not found["ids"][0]:
            raise EmptyCollectionError(collection, model)
        ids, docs = found["ids"][0], found["documents"][0]
        metas, dists = found["metadatas"][0], found["distances"][0]
        return [
            RetrievedChunk(chunk_id=i, text=d or "", source=str((m or {}).get("source", "")), score=1.0 - float(s))
            for i, d, m, s in zip(ids, docs, metas, dists, strict=True)
        ]

    async def ids_where(self, collection: str, where: dict[str, Any], model: str | None = None) -> list[str]:
        """Ids of the chunks (vectors of `model`) whose metadata match a Chroma `where` filter."""
        found = await (await self.collection(collection, model)).get(where=where, include=[])
        return list(found["ids"])

    async def delete_ids(self, collection: str, ids: Sequence[str], model: str | None = None) -> int:
        """Delete chunks by id, in batches no larger than the server allows; returns how many were asked."""
        coll = await self.collection(collection, model)
        step = await self.max_batch_size()
        for start in range(0, len(ids), step):
            await coll.delete(ids=list(ids[start : start + step]))
        return len(ids)

    async def count(self, collection: str, model: str | None = None) -> int:
        """How many chunks a collection holds for `model`."""
        return int(await (await self.collection(collection, model)).count())

    async def delete_collection(self, collection: str, model: str | None = None) -> None:
        """Drop a collection's vectors of `model` (tests, re-indexing)."""
        key = physical_name(collection, self._model(model))
        self._collections.pop(key, None)
        await (await self.client()).delete_collection(key)
