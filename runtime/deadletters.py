"""The dead-letter store: one Redis entry per dead-lettered job, for the bookkeeping activity and `dlq`."""

from __future__ import annotations

import redis.asyncio

from runtime.at_rest import PLAIN, AtRest
from runtime.keys import RedisKeys
from schemas.dlq import DeadLetterEntry

# Dead letters outlive the namespace's default retention a little, so `dlq list` can always join them.
DEAD_LETTER_TTL_S = 45 * 24 * 3600


class DeadLetterStore:
    """Reads and writes dead-letter entries under `<prefix>:dlq:<job_id>`."""

    def __init__(self, redis: redis.asyncio.Redis, keys: RedisKeys, at_rest: AtRest = PLAIN) -> None:
        self.redis = redis
        self.keys = keys
        self.at_rest = at_rest  # entries (their inputs hold prompts) rest encrypted when keys are set

    def _sealed(self, entry: DeadLetterEntry) -> tuple[str, str]:
        key = self.keys.dead_letter(entry.job_id)
        return key, self.at_rest.seal(entry.model_dump_json(), key)

    async def record(self, entry: DeadLetterEntry) -> None:
        """Store a new dead letter."""
        await self.redis.set(*self._sealed(entry), ex=DEAD_LETTER_TTL_S)

    async def load(self, job_id: str) -> DeadLetterEntry | None:
        """One job's dead letter, if Redis still holds it."""
        key = self.keys.dead_letter(job_id)
        raw = await self.redis.get(key)
        return DeadLetterEntry.model_validate_json(self.at_rest.open(raw, key)) if raw else None

    async def save(self, entry: DeadLetterEntry) -> None:
        """Write back an entry (e.g. after recording a replay), keeping its expiry."""
        await self.redis.set(*self._sealed(entry), keepttl=True)
