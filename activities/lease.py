"""The never-pay-twice lease: a model call runs only while its attempt provably holds the step's lease in Redis.

Contract. The key `<prefix>:idem:<workflow_id>/<step>[/<index>]` holds either a lease `<attempt>:<acquired-ms>` with
a time-to-live of L seconds (the activity's heartbeat timeout) or `completed:<result json>`. An attempt takes the
lease only with `SET NX PX` — that is, only once Redis itself has expired or released the previous holder's lease;
nothing ever takes over a live one. The holder renews the lease (compare-and-`PEXPIRE`) every L/4 and aborts its
model call — cancelling the HTTP request, so the response is never fully delivered and a provider that bills
delivered responses bills nothing — once MARGIN = L/3 is all that is left of the lease as measured below.

Why no second paid call can run while the first may still be in flight:
1. Let s be the holder's monotonic send time of its last successful SET or renewal. Redis ran that command at some
   real time r >= s, so the key lives until at least r + L >= s + L (Redis's clock and ours advance at the same
   rate up to drift, microseconds per second, far below MARGIN).
2. The holder cancels its call at s + L - MARGIN on its own clock (an `asyncio` deadline rescheduled after each
   successful renewal), whether or not Redis answers; a renewal that finds another value aborts at once.
3. Another attempt calls the model only after its own `SET NX` succeeded, i.e. after the key was gone: expired
   (>= s + L), or released by the holder after its call had ended. So the first call was cancelled at least MARGIN
   before the second one was sent.
The assumption: the holder's event loop is never blocked for MARGIN (its deadline fires late by the loop's lag).
A renewal's answer is awaited for up to L, not OP_TIMEOUT_S: it proves the lease from its send time whenever it
comes, so a loaded worker whose loop reads the answer late keeps its call rather than aborting a call the provider
may already have answered in full (which would bill the retry's call a second time).

Redis unavailable (refused, hung, restarting): acquiring fails within OP_TIMEOUT_S and the attempt waits —
`Throttled`, which never counts toward the 5 attempts — instead of calling unlocked; a holder that cannot renew
aborts its call in time (point 2) and waits the same way. Temporal heartbeats are sent by their own background task
and never wait on Redis, so a Redis stall never lets Temporal start a second attempt beside a live one.

Redis killed with -9 loses at most the writes of the last second (`appendfsync everysec`). A lost lease or result
is harmless as a single fault: the holder's next renewal finds its lease gone and aborts, and a result the attempt
already returned lives in Temporal's history; only a worker crash in that same second could repeat a paid call.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from runtime.logging import get_logger

log = get_logger(__name__)

OP_TIMEOUT_S = 1.0  # one Redis command on the hot path; a hung Redis fails this fast instead of a socket timeout
MARGIN_SHARE = 1 / 3  # the call is cancelled when this share of the lease is all that may be left of it
RENEW_SHARE = 1 / 4  # renewals go out this often (as a share of the lease): two may fail before the margin is hit


class LeaseLost(Exception):
    """The lease could not be renewed in time (Redis unavailable) or belongs to another attempt: the call stopped."""


async def bounded(pending: Awaitable[Any], timeout_s: float = OP_TIMEOUT_S) -> Any:
    """Await one Redis command for at most timeout_s (TimeoutError past it)."""
    async with asyncio.timeout(timeout_s):
        return await pending


class LeaseGuard:
    """Keeps a held lease alive while a model call runs and cancels the call before the lease can lapse.

    `renew` is the store's compare-and-expire (True: still ours, False: not ours; raises when Redis fails);
    `acquired_at` is the monotonic send time of the SET that took the lease.
    """

    def __init__(self, renew: Callable[[], Awaitable[bool]], lease_s: float, acquired_at: float, key: str) -> None:
        self.renew_fn = renew
        self.lease_s = lease_s
        self.key = key
        self.proven_at = acquired_at  # send time of the last command Redis confirmed
        self.lost_reason: str | None = None
        self._deadline: asyncio.Timeout | None = None
        self._renewing: asyncio.Task[None] | None = None

    @property
    def every_s(self) -> float:
        """How often the lease is renewed."""
        return max(self.lease_s * RENEW_SHARE, 0.05)

    def abort_at(self) -> float:
        """The loop time by which the call must be cancelled: the proven lease end minus the margin."""
        loop_now, mono_now = asyncio.get_running_loop().time(), time.monotonic()
        return loop_now + (self.proven_at + self.lease_s * (1 - MARGIN_SHARE) - mono_now)

    def kick(self) -> None:
        """Start a renewal in the background unless one is still waiting on Redis (never blocks the caller)."""
        if self._renewing is None or self._renewing.done():
            self._renewing = asyncio.create_task(self._renew())

    async def _renew(self) -> None:
        sent = time.monotonic()
        try:
            ours = await self.renew_fn()
        except Exception as err:  # Redis unavailable: the deadline stays where the last proof put it
            log.warning("idempotency lease not renewed", key=self.key, error=str(err) or type(err).__name__)
            return
        if not ours:
            self._lose("the lease belongs to another attempt or expired")
            return
        self.proven_at = max(self.proven_at, sent)
        # An answer that came after the deadline fired (a renewal waits up to the lease) changes nothing: too late.
        # Rescheduling an expiring deadline would also raise (seen with 2,000 calls held).
        if self._deadline is not None and self.lost_reason is None and not self._deadline.expired():
            self._deadline.reschedule(self.abort_at())

    def _lose(self, reason: str) -> None:
        self.lost_reason = reason
        if self._deadline is not None and not self._deadline.expired():
            self._deadline.reschedule(asyncio.get_running_loop().time())

    @contextlib.asynccontextmanager
    async def guarding(self) -> AsyncIterator[None]:
        """Run the block (the model call) under the lease: LeaseLost when it had to be cancelled."""
        deadline = asyncio.timeout_at(self.abort_at())
        self._deadline = deadline
        try:
            async with deadline:
                yield
        except TimeoutError as err:
            if not deadline.expired():
                raise  # the call's own timeout, not ours
            unproven = self.lease_s * (1 - MARGIN_SHARE)
            reason = self.lost_reason or f"no lease renewal confirmed by Redis for {unproven:.1f} s"
            raise LeaseLost(f"model call cancelled before its idempotency lease could lapse: {reason}") from err
        finally:
            self._deadline = None
            if self._renewing is not None and not self._renewing.done():
                self._renewing.cancel()
