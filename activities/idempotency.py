"""Never paid twice: a Redis lock per model call, the stored result, and a cross-job cache (CONTRACTS.md).

The key `<prefix>:idem:<workflow_id>/<step>[/<index>]` holds either `<attempt>:<heartbeat-ms>` (a lock, refreshed
with the activity's heartbeat) or `completed:<result json>` (stored before the activity returns). An attempt that
finds a live lock waits; a lock whose heartbeat is older than the heartbeat timeout is stale and taken over with a
compare-and-set, so two takers never both win. Redis being down never stops a call: the call proceeds unlocked,
with a warning and a count in `genai_flow_idempotency_unavailable` (prometheus_client's default registry and the
worker's Temporal metrics endpoint).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio
from prometheus_client import Counter
from redis.exceptions import RedisError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from runtime.at_rest import AtRestKeyError, at_rest_for
from runtime.keys import RedisKeys
from runtime.logging import get_logger
from runtime.settings import Settings
from schemas.failures import FailureType

log = get_logger(__name__)

COMPLETED = "completed:"
UNAVAILABLE_METRIC = "genai_flow_idempotency_unavailable"
UNAVAILABLE_HELP = "Model calls made without the never-pay-twice lock or result store because Redis was unavailable."
UNAVAILABLE = Counter(UNAVAILABLE_METRIC, UNAVAILABLE_HELP)
REDIS_ERRORS = (RedisError, OSError)

# Compare-and-set on the lock value: refresh, take over a stale lock, or (new value "") release it.
_CAS = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) end
return 1
"""


class LockBusy(Exception):
    """Another attempt holds a live lock for longer than this attempt can wait."""


class StoreUnavailable(Exception):
    """Redis did not answer; the caller proceeds without the lock."""


def _text(value: str | bytes | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _now_ms() -> int:
    return int(time.time() * 1000)


def parse_lock(value: str) -> tuple[int, int] | None:
    """(attempt, heartbeat epoch ms) of a lock value `<attempt>:<heartbeat-ms>`, or None if malformed."""
    attempt, sep, beat = value.partition(":")
    if not sep or not attempt.isdigit() or not beat.isdigit():
        return None
    return int(attempt), int(beat)


@dataclass
class Claim:
    """What acquire() found: our own lock (`token` set) or a stored result (`stored` set)."""

    token: str | None = None
    stored: str | None = None
    took_over: str | None = None  # the stale lock value this claim replaced, if any


class IdempotencyStore:
    """The never-pay-twice lock and result store, plus the cross-job cache of deterministic calls."""

    def __init__(self, redis: redis.asyncio.Redis, settings: Settings) -> None:
        self.redis = redis
        self.keys = RedisKeys.of(settings)
        self.ttl_s = settings.idempotency_ttl_s
        self._cas = redis.register_script(_CAS)
        self.at_rest = at_rest_for(settings.encryption_entries)  # results rest encrypted when keys are set

    def _open(self, value: str, key: str) -> str:
        try:
            return self.at_rest.open(value, key)
        except AtRestKeyError as err:  # a missing key is configuration: retrying cannot help
            raise ApplicationError(str(err), type=FailureType.PERMANENT.value, non_retryable=True) from None

    async def completed(self, idempotency_key: str) -> str | None:
        """The stored result JSON of a finished call, if any."""
        key = self.keys.idempotency(idempotency_key)
        value = _text(await self._guard(self.redis.get(key)))
        return self._open(value[len(COMPLETED) :], key) if value and value.startswith(COMPLETED) else None

    async def acquire(
        self,
        idempotency_key: str,
        attempt: int,
        stale_after_s: float,
        wait_s: float,
        on_wait: Callable[[], None] = lambda: None,
    ) -> Claim:
        """Take the lock, or return the stored result; waits (calling on_wait) while another attempt's lock is live.

        Raises LockBusy when the lock is still live after wait_s, StoreUnavailable when Redis fails.
        """
        key = self.keys.idempotency(idempotency_key)
        lock_ttl = max(10, math.ceil(stale_after_s * 3))  # a crashed holder's lock also expires by itself
        give_up = time.monotonic() + wait_s
        pause = min(0.05, stale_after_s / 10)
        while True:
            token = f"{attempt}:{_now_ms()}"
            if await self._guard(self.redis.set(key, token, nx=True, ex=lock_ttl)):
                return Claim(token=token)
            seen = _text(await self._guard(self.redis.get(key)))
            if seen is None:
                continue  # released or expired in between: try again at once
            if seen.startswith(COMPLETED):
                return Claim(stored=self._open(seen[len(COMPLETED) :], key))
            holder = parse_lock(seen)
            if holder is None or _now_ms() - holder[1] > stale_after_s * 1000:
                if await self._guard(self._cas(keys=[key], args=[seen, token, lock_ttl])):
                    log.warning("stale idempotency lock taken over", key=idempotency_key, stale=seen, attempt=attempt)
                    return Claim(token=token, took_over=seen)
                continue  # someone else changed it first: look again
            if time.monotonic() >= give_up:
                raise LockBusy(f"attempt {holder[0]} holds {idempotency_key} (heartbeat {seen})")
            on_wait()
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0, max(stale_after_s / 4, 0.05))

    async def refresh(self, idempotency_key: str, token: str, attempt: int, stale_after_s: float) -> str | None:
        """Move our lock's heartbeat to now; the new token, or None when the lock is no longer ours."""
        new = f"{attempt}:{_now_ms()}"
        lock_ttl = max(10, math.ceil(stale_after_s * 3))
        ok = await self._guard(self._cas(keys=[self.keys.idempotency(idempotency_key)], args=[token, new, lock_ttl]))
        return new if ok else None

    async def release(self, idempotency_key: str, token: str) -> None:
        """Drop our lock (after a failed call) so the next attempt need not wait for it to go stale."""
        await self._guard(self._cas(keys=[self.keys.idempotency(idempotency_key)], args=[token, "", 0]))

    async def store(self, idempotency_key: str, result_json: str) -> None:
        """Mark the call completed with its result (unconditionally: any attempt's result is a valid one)."""
        key = self.keys.idempotency(idempotency_key)
        await self._guard(self.redis.set(key, COMPLETED + self.at_rest.seal(result_json, key), ex=self.ttl_s))

    async def cached(self, digest: str) -> str | None:
        """A cross-job cached result of a deterministic call, if any."""
        key = self.keys.inference_cache(digest)
        value = _text(await self._guard(self.redis.get(key)))
        return self._open(value, key) if value is not None else None

    async def cache(self, digest: str, result_json: str) -> None:
        """Remember a deterministic call's result for other jobs."""
        key = self.keys.inference_cache(digest)
        await self._guard(self.redis.set(key, self.at_rest.seal(result_json, key), ex=self.ttl_s))

    @staticmethod
    async def _guard(pending: Any) -> Any:
        # redis-py types its asyncio commands as `Awaitable[T] | T`; every command here is awaitable.
        try:
            return await pending
        except REDIS_ERRORS as err:
            raise StoreUnavailable(str(err) or type(err).__name__) from err


def count_unavailable(idempotency_key: str, action: str, err: BaseException) -> None:
    """Log and count a call that went on without Redis (the lock or the stored result is missing)."""
    UNAVAILABLE.inc()
    if activity.in_activity():
        # The worker's /metrics endpoint serves Temporal's runtime metrics, so the count goes there too.
        activity.metric_meter().create_counter(UNAVAILABLE_METRIC, UNAVAILABLE_HELP).add(1)
    log.warning("idempotency store unavailable", key=idempotency_key, action=action, error=str(err))
