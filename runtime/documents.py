"""The index's record of each document: which version of (collection, uri) is current, and a lock to change it.

Chunks live in Chroma; this record (one Redis key per document, no expiry) says which version they belong to, its
event sequencer, a generation that grows with every change, and the run that made it current. Starters read it to
answer "unchanged" and to derive job ids; the index and remove activities change a document only while holding its
lock, so two runs of one document never interleave their upserts and deletes.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio
from redis.exceptions import LockError

from runtime.keys import RedisKeys
from schemas.ingest import DocumentState

LOCK_TIMEOUT_S = 60.0  # a holder that dies frees the document after this; holders extend it while they work
LOCK_WAIT_S = 30.0


class DocumentBusyError(RuntimeError):
    """Another run held the document's lock for longer than we could wait (retry later)."""


class DocumentLock:
    """A held document lock; `extend()` it during long work so it does not expire under us."""

    def __init__(self, lock: redis.asyncio.lock.Lock) -> None:
        self._lock = lock

    async def extend(self) -> None:
        """Reset the lock's expiry to LOCK_TIMEOUT_S from now."""
        await self._lock.reacquire()


class DocumentRegistry:
    """Reads and writes `DocumentState` records under `<prefix>:doc:...`."""

    def __init__(self, redis: redis.asyncio.Redis, keys: RedisKeys) -> None:
        self.redis = redis
        self.keys = keys

    async def get(self, collection: str, uri: str) -> DocumentState | None:
        """The record of (collection, uri), or None when it was never indexed."""
        raw = await self.redis.get(self.keys.document(collection, uri))
        return DocumentState.model_validate_json(raw) if raw else None

    async def get_many(self, collection: str, uris: list[str]) -> list[DocumentState | None]:
        """The records of many uris of one collection in one round trip (MGET), in the order asked."""
        if not uris:
            return []
        raws = await self.redis.mget([self.keys.document(collection, uri) for uri in uris])
        return [DocumentState.model_validate_json(raw) if raw else None for raw in raws]

    async def save(self, state: DocumentState) -> None:
        """Write a record (call while holding the document's lock)."""
        await self.redis.set(self.keys.document(state.collection, state.uri), state.model_dump_json())

    @asynccontextmanager
    async def locked(self, collection: str, uri: str, wait_s: float = LOCK_WAIT_S) -> AsyncIterator[DocumentLock]:
        """Hold the document's lock for the block (redis-py's token lock: only its holder releases or extends it)."""
        lock = self.redis.lock(
            f"{self.keys.document(collection, uri)}:lock", timeout=LOCK_TIMEOUT_S, blocking_timeout=wait_s
        )
        if not await lock.acquire():
            raise DocumentBusyError(f"{uri} in {collection} is being changed by another run")
        try:
            yield DocumentLock(lock)
        finally:
            with contextlib.suppress(LockError):  # expired while we worked: nothing of ours left to release
                await lock.release()
