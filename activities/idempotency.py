"""Never paid twice: the lease per model call (activities/lease.py), the stored result, and a cross-job cache.

The key `<prefix>:idem:<workflow_id>/<step>[/<index>]` holds either a lease `<attempt>:<acquired-ms>` that expires
in Redis unless its holder renews it, or `completed:<result json>` (stored before the activity returns). An attempt
that finds a live lease waits; it takes the key only once Redis has expired or released the lease, never by
judging it stale. Every command is bounded by OP_TIMEOUT_S (a renewal by the lease: its proof runs from its send
time, so a late answer still counts); a Redis that does not answer is StoreUnavailable, and the attempt waits
rather than calling unlocked. A result that cannot be stored is still returned (Temporal records
it), with a warning and a count in `genai_flow_idempotency_unavailable` (prometheus_client's default registry and
the worker's Temporal metrics endpoint).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import redis.asyncio
from prometheus_client import Counter
from redis.exceptions import RedisError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.events import Staged
from activities.lease import OP_TIMEOUT_S, bounded
from runtime.at_rest import AtRestKeyError, at_rest_for
from runtime.keys import RedisKeys
from runtime.logging import get_logger
from runtime.settings import Settings
from schemas.failures import FailureType

log = get_logger(__name__)

COMPLETED = "completed:"
UNAVAILABLE_METRIC = "genai_flow_idempotency_unavailable"
UNAVAILABLE_HELP = "Model calls whose result could not be stored (or lease not taken) because Redis was unavailable."
UNAVAILABLE = Counter(UNAVAILABLE_METRIC, UNAVAILABLE_HELP)
REDIS_ERRORS = (RedisError, OSError, TimeoutError)

# Compare-and-expire on the lease value: renew it for ARGV[2] ms, or (ARGV[2] == "0") release it.
_CAS = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '0' then redis.call('DEL', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
"""


RENEW_BATCH_S = 0.02  # lease renewals asked for within this window share one pipeline


@dataclass
class _Renewal:
    """One queued lease renewal: the Redis key, our token, the new time-to-live, and where its reply goes."""

    key: str
    token: str
    ms: int
    done: asyncio.Future[Any] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class LockBusy(Exception):
    """Another attempt holds a live lease for longer than this attempt can wait."""


class StoreUnavailable(Exception):
    """Redis did not answer within OP_TIMEOUT_S (or refused the connection)."""


def _text(value: str | bytes | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _now_ms() -> int:
    return int(time.time() * 1000)


def parse_lock(value: str) -> tuple[int, int] | None:
    """(attempt, acquired epoch ms) of a lease value `<attempt>:<acquired-ms>`, or None if malformed."""
    attempt, sep, acquired = value.partition(":")
    if not sep or not attempt.isdigit() or not acquired.isdigit():
        return None
    return int(attempt), int(acquired)


@dataclass
class Claim:
    """What acquire() found: our own lease (`token` set, taken at monotonic `sent`) or a stored result (`stored`)."""

    token: str | None = None
    stored: str | None = None
    sent: float = 0.0  # monotonic send time of the SET that took the lease: the lease lasts at least until sent + L


class IdempotencyStore:
    """The never-pay-twice lock and result store, plus the cross-job cache of deterministic calls."""

    def __init__(self, redis: redis.asyncio.Redis, settings: Settings) -> None:
        self.redis = redis
        self.keys = RedisKeys.of(settings)
        self.ttl_s = settings.idempotency_ttl_s
        self._cas = redis.register_script(_CAS)
        self._renewals: list[_Renewal] = []
        self._flusher: asyncio.Task[None] | None = None
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
        lease_s: float,
        wait_s: float,
        on_wait: Callable[[], None] = lambda: None,
        before: Staged | None = None,
    ) -> Claim:
        """Take the lease, or return the stored result; waits (calling on_wait) while another attempt's lease lives.

        `before` (an event, activities/events.py) goes out in the same round trip as the first SET, ahead of it.
        Raises LockBusy when the lease is still live after wait_s, StoreUnavailable when Redis fails.
        """
        key = self.keys.idempotency(idempotency_key)
        lease_ms = max(1, round(lease_s * 1000))
        give_up = time.monotonic() + wait_s
        pause = min(0.05, lease_s / 10)
        while True:
            token, sent = f"{attempt}:{_now_ms()}", time.monotonic()
            took = await self._with(before, partial(_set_nx, key=key, value=token, px=lease_ms))
            before = None  # sent with the first SET only
            if took:
                return Claim(token=token, sent=sent)
            seen = _text(await self._guard(self.redis.get(key)))
            if seen is None:
                continue  # released or expired in between: try again at once
            if seen.startswith(COMPLETED):
                return Claim(stored=self._open(seen[len(COMPLETED) :], key))
            if time.monotonic() >= give_up:
                raise LockBusy(f"another attempt holds the lease on {idempotency_key} ({seen})")
            on_wait()
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0, max(lease_s / 4, 0.05))

    async def renew(self, idempotency_key: str, token: str, lease_s: float) -> bool:
        """Extend our lease to lease_s from now; False when the key no longer holds our lease.

        Renewals are coalesced: those asked for within RENEW_BATCH_S go out as one pipeline. A worker holding 2,000
        calls renews ~1,300 leases a second; one round trip each starved the pool and the event loop in B4, and
        leases were lost. The holder dates its proof from before it asked (activities/lease.py), so the wait for
        the batch only makes that proof more conservative.
        """
        renewal = _Renewal(self.keys.idempotency(idempotency_key), token, max(1, round(lease_s * 1000)))
        self._renewals.append(renewal)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_renewals())
        # Its answer counts whenever it comes within the lease: the proof runs from the send time, so a late answer
        # (a loaded worker's event loop, a slow Redis) must not abort a call that still holds its lease.
        return bool(await self._guard(asyncio.shield(renewal.done), timeout_s=lease_s))

    async def _flush_renewals(self) -> None:
        # Loops until no renewal is waiting: one asked for while a batch was in flight must not wait for the next ask.
        while self._renewals:
            await asyncio.sleep(RENEW_BATCH_S)
            batch, self._renewals = self._renewals, []
            await self._send_renewals(batch)

    async def _send_renewals(self, batch: list[_Renewal]) -> None:
        # No renewal of a batch that failed is proven, whatever failed (a value Redis' client cannot encode, a bug, a
        # cancelled flusher): every waiter hears so now, rather than waiting out its lease on an answer that will
        # never come, and none takes it for a renewal.
        try:
            replies = await self._renewal_replies(batch)
        except Exception as err:
            _settle(batch, [err] * len(batch))
            log.warning("idempotency lease renewals failed", renewals=len(batch), error=repr(err))
            return
        except BaseException as err:  # cancelled: answer the waiters, then let the cancellation through
            _settle(batch, [StoreUnavailable(f"lease renewals not sent ({type(err).__name__})")] * len(batch))
            raise
        _settle(batch, replies)

    async def _renewal_replies(self, batch: list[_Renewal]) -> list[Any]:
        """One reply per renewal (its result, or the Redis error that stands for it), from one pipeline."""
        pipe = self.redis.pipeline(transaction=False)
        for renewal in batch:
            await self._cas(keys=[renewal.key], args=[renewal.token, renewal.ms], client=pipe)  # queued on pipe
        try:
            # Bounded by the longest lease asked for, as each renewal's own wait is (see renew).
            replies = list(await bounded(pipe.execute(raise_on_error=False), max(r.ms for r in batch) / 1000))
        except REDIS_ERRORS as err:
            return [err] * len(batch)
        if len(replies) != len(batch):
            raise RuntimeError(f"{len(replies)} replies to a pipeline of {len(batch)} lease renewals")
        return replies

    async def release(self, idempotency_key: str, token: str) -> None:
        """Drop our lease (after a failed call) so the next attempt need not wait for it to expire."""
        await self._guard(self._cas(keys=[self.keys.idempotency(idempotency_key)], args=[token, 0]))

    async def store(self, idempotency_key: str, result_json: str, after: Staged | None = None) -> None:
        """Mark the call completed with its result (unconditionally: any attempt's result is a valid one).

        `after` (an event) goes out in the same round trip, behind the SET: a reader never sees it before the result.
        """
        key = self.keys.idempotency(idempotency_key)
        value = COMPLETED + self.at_rest.seal(result_json, key)
        await self._with(after, lambda pipe: pipe.set(key, value, ex=self.ttl_s), first=True)

    async def _with(self, staged: Staged | None, command: Callable[[Any], Any], first: bool = False) -> Any:
        """One command's reply, sent alone or in one pipeline with a staged event (before it, or after if first)."""
        if staged is None:
            return await self._guard(command(self.redis))
        pipe = self.redis.pipeline(transaction=False)
        if first:
            command(pipe)
            staged.stage(pipe)
        else:
            count = staged.stage(pipe)
            command(pipe)
        replies = await self._guard(pipe.execute(raise_on_error=False))
        mine = replies[0] if first else replies[count]
        staged.dropped(replies[1:] if first else replies[:count])
        if isinstance(mine, Exception):
            raise StoreUnavailable(str(mine) or type(mine).__name__)
        return mine

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
    async def _guard(pending: Any, timeout_s: float = OP_TIMEOUT_S) -> Any:
        # redis-py types its asyncio commands as `Awaitable[T] | T`; every command here is awaitable.
        try:
            return await bounded(pending, timeout_s)
        except REDIS_ERRORS as err:
            raise StoreUnavailable(str(err) or type(err).__name__) from err


def _settle(batch: list[_Renewal], replies: list[Any]) -> None:
    """Answer each renewal still waiting: its reply, or the exception that stands for it."""
    for renewal, reply in zip(batch, replies, strict=True):
        if renewal.done.done():
            continue
        if isinstance(reply, BaseException):
            renewal.done.set_exception(reply)
        else:
            renewal.done.set_result(reply)


def _set_nx(target: Any, key: str, value: str, px: int) -> Any:
    """`SET key value NX PX px` on a client or a pipeline."""
    return target.set(key, value, nx=True, px=px)


def count_unavailable(idempotency_key: str, action: str, err: BaseException) -> None:
    """Log and count a step that went on without Redis (its result was not stored)."""
    UNAVAILABLE.inc()
    if activity.in_activity():
        # The worker's /metrics endpoint serves Temporal's runtime metrics, so the count goes there too.
        activity.metric_meter().create_counter(UNAVAILABLE_METRIC, UNAVAILABLE_HELP).add(1)
    log.warning("idempotency store unavailable", key=idempotency_key, action=action, error=str(err))
