"""The claim check: ingestion steps keep text, chunks and vectors in the object store and pass `ClaimRef`s.

Claims live under `GENAI_FLOW_CLAIMS_URL` (default `file://$GENAI_FLOW_HOME/claims`; `s3://bucket/prefix` when
workers run on several hosts), one folder per run, deleted when the run closes. Every read checks the sha256 the
reference carries, so a claim changed or truncated underneath a run fails loudly instead of indexing garbage.
With GENAI_FLOW_ENCRYPTION_KEYS set, each claim is stored sealed (runtime/at_rest.py) under its URI, so extracted
text and chunks never rest in the clear; the checksum covers the stored bytes.
"""

from __future__ import annotations

import io
from typing import TypeVar

import numpy as np
from pydantic import BaseModel

from runtime.at_rest import PLAIN, AtRest
from runtime.objectstore import ObjectStore, ObjectStoreError, sha256_hex
from schemas.ingest_steps import ClaimRef

M = TypeVar("M", bound=BaseModel)


class ClaimCorruptError(ObjectStoreError):
    """A claim's content no longer matches the checksum its reference carries."""


class ClaimStore:
    """Put and get claims under one base URI."""

    def __init__(self, store: ObjectStore, base: str, at_rest: AtRest = PLAIN) -> None:
        self.store = store
        self.base = base.rstrip("/")
        self.at_rest = at_rest

    def uri(self, key: str) -> str:
        """The URI of a claim key (`<run prefix>/<name>`)."""
        return f"{self.base}/{key.lstrip('/')}"

    async def put(self, key: str, data: bytes) -> ClaimRef:
        """Store bytes; returns the reference to pass on."""
        uri = self.uri(key)
        data = self.at_rest.seal_bytes(data, uri)
        await self.store.put(uri, data)
        return ClaimRef(uri=uri, sha256=sha256_hex(data), size=len(data))

    async def get(self, ref: ClaimRef) -> bytes:
        """The bytes of a claim, checked against its reference."""
        data = await self.store.get(ref.uri)
        if len(data) != ref.size or sha256_hex(data) != ref.sha256:
            raise ClaimCorruptError(f"claim {ref.uri} does not match its checksum (changed or truncated)")
        return self.at_rest.open_bytes(data, ref.uri)

    async def put_model(self, key: str, model: BaseModel) -> ClaimRef:
        """Store a pydantic model as JSON."""
        return await self.put(key, model.model_dump_json().encode())

    async def get_model(self, ref: ClaimRef, model: type[M]) -> M:
        """Read a pydantic model stored with put_model."""
        return model.model_validate_json(await self.get(ref))

    async def put_vectors(self, key: str, vectors: np.ndarray | list[list[float]]) -> ClaimRef:
        """Store a matrix of vectors (float32 `.npy`: 4 bytes a dimension, shape kept)."""
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(vectors, dtype=np.float32), allow_pickle=False)
        return await self.put(key, buffer.getvalue())

    async def get_vectors(self, ref: ClaimRef) -> np.ndarray:
        """Read a matrix stored with put_vectors."""
        matrix: np.ndarray = np.load(io.BytesIO(await self.get(ref)), allow_pickle=False)
        return matrix

    async def drop(self, prefix: str) -> int:
        """Delete every claim of a run; returns how many there were."""
        return await self.store.delete_prefix(self.uri(prefix).rstrip("/") + "/")
