"""One attempt of one inference step: idempotency key, lock, heartbeats, failure counting and events.

Every inference activity hands its model call to `StepRunner.run`, which (1) returns a stored or cross-job cached
result without calling the model, (2) takes the never-pay-twice lease (activities/lease.py), (3) runs the call
inside an end-to-end timeout that ends before the activity's own timeouts and is cancelled before the lease could
lapse, while a background task heartbeats (never waiting on Redis) and renews the lease, (4) stores the result
before returning, and (5) turns failures into classified ApplicationErrors with an explicit `next_retry_delay`,
raising non-retryable once MAX_ATTEMPTS counting failures have happened (docs/resilience.md). Redis unavailable
means waiting (`Throttled`, not counted), never an unlocked call.

Every chat or structured call is bounded: `StepContext.max_tokens` is the request's own `max_tokens`, else the
step's GENAI_FLOW_MAX_TOKENS bound. An attempt after invalid output repairs rather than repeats: the rejected reply
and its error travel in the heartbeat details with the failure count, and reach `compute` as `StepContext.repair`
(activities/repair.py); `StepContext.sampling` varies temperature and seed for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar, cast

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.background import repeating, uncancellable
from activities.errors import InvalidOutputError, classify
from activities.events import EventPublisher, Staged, TokenBatcher
from activities.faults import fault_point
from activities.idempotency import IdempotencyStore, LockBusy, StoreUnavailable, count_unavailable
from activities.lease import LeaseGuard, LeaseLost
from activities.metrics import record_inference, record_inference_failure
from activities.retry import HEARTBEAT_TIMEOUT, MAX_ATTEMPTS, backoff_delay
from activities.router import served_by
from activities.stepcontext import StepContext as StepContext  # re-exported: activities build on it
from activities.stepcontext import max_tokens_of, state_from
from runtime.logging import get_logger
from runtime.settings import Settings
from schemas.events import EventType
from schemas.failures import FailureType, StepFailure
from schemas.inference import InferenceCall
from schemas.usage import Usage

log = get_logger(__name__)

SAFETY_S = 2.0  # the call ends this long before the attempt's own deadline, so our classified error is what counts
LOCK_BUSY_RETRY = timedelta(seconds=1)
REDIS_WAIT_RETRY = timedelta(seconds=2)  # an attempt that could not prove its lease waits this long for Redis
CHUNK_BEAT_S = 0.5  # streamed chunks heartbeat at most this often (the background loop covers quiet streams)

R = TypeVar("R", bound=BaseModel)


def idempotency_key(call: InferenceCall) -> str:
    """`<workflow_id>/<step>[/<index>]` of the running activity: the Idempotency-Key header and lock name."""
    info = activity.info()
    key = f"{info.workflow_id or info.activity_id}/{call.step}"
    return key if call.index is None else f"{key}/{call.index}"


def usage_of(result: BaseModel) -> Usage:
    """The `usage` of an inference result (every result model has one)."""
    return cast(Usage, result.usage)  # type: ignore[attr-defined]


def with_endpoint(result: R, endpoint: str) -> R:
    """The result with its usage naming the endpoint that served it (unchanged without a models file)."""
    if not endpoint:
        return result
    return result.model_copy(update={"usage": usage_of(result).model_copy(update={"endpoint": endpoint})})


class StepRunner:
    """Runs model calls as idempotent, heartbeating, classified-failure attempts (see the module docstring)."""

    def __init__(self, store: IdempotencyStore | None, publisher: EventPublisher, settings: Settings) -> None:
        self.store = store
        self.publisher = publisher
        self.settings = settings

    async def run(
        self,
        call: InferenceCall,
        result_type: type[R],
        compute: Callable[[StepContext], Awaitable[R]],
        cache_digest: str | None = None,
    ) -> R:
        """One attempt of `call`: a stored/cached result, or `compute` under the lock; classified failures."""
        try:
            result = await _Attempt(self, call).run(result_type, compute, cache_digest)
        except ApplicationError as err:
            record_inference_failure(call.step, err.type or "Transient")
            raise
        record_inference(call, result)  # the one place every finished step's usage is counted (activities/metrics.py)
        return result


class _Attempt:
    """The state of one running attempt (a StepRunner serves many at once)."""

    def __init__(self, runner: StepRunner, call: InferenceCall) -> None:
        info = activity.info()
        self.store, self.publisher, self.settings = runner.store, runner.publisher, runner.settings
        self.call = call
        self.attempt = info.attempt
        self.key = idempotency_key(call)
        self.job_id = call.job_id or info.workflow_id or info.activity_id
        self.state = state_from(info.heartbeat_details)
        self.lease_s = (info.heartbeat_timeout or HEARTBEAT_TIMEOUT).total_seconds()  # lease sized to the heartbeat
        self.token: str | None = None  # our lease's value while we hold it
        self.lease: LeaseGuard | None = None
        self.started = time.monotonic()
        # The attempt's start counts as a beat: Temporal's heartbeat clock starts with it, so a call that ends
        # within CHUNK_BEAT_S never writes a heartbeat to the server at all.
        self.last_beat = time.monotonic()

    def beat(self) -> None:
        """Heartbeat with the attempt state, so the next attempt knows how many failures counted."""
        self.last_beat = time.monotonic()
        activity.heartbeat(self.state.model_dump())

    def beat_soon(self) -> None:
        """Heartbeat unless one went out within CHUNK_BEAT_S: cheap enough to call on every streamed chunk."""
        # Each SDK heartbeat is a task plus a payload encode; thousands of streams x every chunk would be CPU-bound.
        if time.monotonic() - self.last_beat >= CHUNK_BEAT_S:
            self.beat()

    async def run(self, result_type: type[R], compute: Callable[[StepContext], Awaitable[R]], digest: str | None) -> R:
        call_timeout, wait_budget = self._budget()
        # No heartbeat up front: each is a server write, and the previous attempt's details (the failure count)
        # stay on the activity until this attempt beats. The background loop and every failure beat as needed.
        async with self._heartbeating():
            return await self._attempt(result_type, compute, digest, call_timeout, wait_budget)

    async def _attempt(
        self,
        result_type: type[R],
        compute: Callable[[StepContext], Awaitable[R]],
        digest: str | None,
        call_timeout: float,
        wait_budget: float,
    ) -> R:
        call, emit = self.call, self.call.emit_events
        started = None
        if emit:
            if self.attempt > 1 or self.store is None:
                await self.publisher.publish(self.job_id, EventType.STEP_STARTED, call.step, {"attempt": self.attempt})
            else:  # the first attempt's `step.started` rides with its lease's SET: one Redis round trip, not two
                started = self.publisher.staged(self.job_id, EventType.STEP_STARTED, call.step, {"attempt": 1})
            if self.attempt > 1:
                # Before this attempt's first token: consumers drop the step's partial text from earlier attempts.
                # It also names the previous attempt's failure class: history keeps only the last attempt's.
                retrying = {"attempt": self.attempt, **self.state.failure_before(self.attempt)}
                await self.publisher.publish(self.job_id, EventType.STEP_RETRYING, call.step, retrying)
        try:
            stored = await self._claim(wait_budget, digest, started)
            if stored is not None:
                return await self._hit(result_type, stored)
            fault_point(self.settings, call.step, "before_call")
            tokens = (
                TokenBatcher(
                    self.publisher,
                    self.job_id,
                    call.step,
                    attempt=self.attempt,
                    after_first=lambda: fault_point(self.settings, call.step, "mid_stream"),
                )
                if emit
                else None
            )
            async with self.lease.guarding() if self.lease else contextlib.nullcontext():
                with served_by() as served:  # the models file's endpoint that served the call, for its usage
                    result = await self._compute(compute, call_timeout, tokens)
            # The call is paid from here on. A cancellation now (the server timed the attempt out while Temporal was
            # down, the worker is stopping) must not lose its result, or the next attempt would pay again.
            result, completed = await uncancellable(self._keep(with_endpoint(result, served.endpoint), tokens, digest))
        except asyncio.CancelledError:
            await self._release()
            raise
        except (LeaseLost, StoreUnavailable) as exc:
            await self._release()
            raise self._waiting(exc) from exc
        except Exception as exc:
            await self._release()
            raise self._failure(exc) from exc
        if completed is not None:
            await self.publisher.publish(self.job_id, EventType.STEP_COMPLETED, call.step, self._completed_data(result))
        return result

    async def _keep(self, result: R, tokens: TokenBatcher | None, digest: str | None) -> tuple[R, Staged | None]:
        """Flush the streamed tokens and store the paid result; `step.completed` when it did not go out with it."""
        if tokens is not None:
            await tokens.flush()
        result = self._with_earlier_billing(result)
        fault_point(self.settings, self.call.step, "after_call")
        completed = self._completed(result) if self.call.emit_events else None
        if await self._store(result.model_dump_json(), digest, completed):
            completed = None  # went out with the stored result
        fault_point(self.settings, self.call.step, "after_store")
        return result, completed

    def _completed_data(self, result: BaseModel) -> dict[str, Any]:
        return {"attempt": self.attempt, "usage": usage_of(result).model_dump(mode="json")}

    def _completed(self, result: BaseModel) -> Staged:
        """`step.completed` staged to go out with the stored result."""
        data = self._completed_data(result)
        return self.publisher.staged(self.job_id, EventType.STEP_COMPLETED, self.call.step, data)

    async def _compute(
        self, compute: Callable[[StepContext], Awaitable[R]], call_timeout: float, tokens: TokenBatcher | None
    ) -> R:
        """The model call within its time budget; running out of it is a TimeoutError that says so."""
        ctx = StepContext(
            self.key,
            call_timeout,
            tokens,
            self.beat_soon,
            max_tokens=max_tokens_of(self.call, self.settings),
            repair=self.state.repair,
            failures=self.state.failures,
        )
        if ctx.repair is not None:
            log.info("repairing invalid output", key=self.key, attempt=self.attempt, error=ctx.repair.error)
        budget = asyncio.timeout(call_timeout)
        try:
            async with budget:
                return await compute(ctx)
        except TimeoutError as err:
            if not budget.expired():
                raise
            # A bare "TimeoutError" in a dead letter says nothing; the budget and the bound say what happened.
            bound = f" (max_tokens={ctx.max_tokens})" if ctx.max_tokens is not None else ""
            raise TimeoutError(f"no complete reply within {call_timeout:.1f} s{bound}") from err

    def _with_earlier_billing(self, result: R) -> R:
        """The result with tokens billed for this step's failed attempts added, so usage matches the invoice."""
        if not self.state.billed_tokens:
            return result
        usage = usage_of(result)
        billed = usage.model_copy(update={"billed_tokens": usage.billed_tokens + self.state.billed_tokens})
        return result.model_copy(update={"usage": billed})

    def _budget(self) -> tuple[float, float]:
        """(call timeout, lock-wait budget) in seconds, both ending before the attempt's and the step's deadline."""
        info = activity.info()
        ends = []
        if info.start_to_close_timeout:
            ends.append((info.started_time + info.start_to_close_timeout).timestamp())
        if info.schedule_to_close_timeout:
            ends.append((info.scheduled_time + info.schedule_to_close_timeout).timestamp())
        left = min(ends) - time.time() - SAFETY_S if ends else math.inf
        call_timeout = max(0.5, min(self.settings.inference_timeout_s, left))
        return call_timeout, max(0.0, left - call_timeout)

    async def _claim(self, wait_s: float, digest: str | None, started: Staged | None) -> str | None:
        """A stored result (JSON) to return, or None after taking the lease; StoreUnavailable while Redis is out."""
        if self.store is None:
            return None
        try:
            claim = await self.store.acquire(self.key, self.attempt, self.lease_s, wait_s, before=started)
        except LockBusy as err:
            # Another attempt is still working on this very call: not a model failure, so it must not count.
            throttled = FailureType.THROTTLED.value
            raise ApplicationError(str(err), type=throttled, next_retry_delay=LOCK_BUSY_RETRY) from err
        if claim.stored is not None:
            return claim.stored
        self.token = claim.token
        store, key, token = self.store, self.key, claim.token or ""
        self.lease = LeaseGuard(lambda: store.renew(key, token, self.lease_s), self.lease_s, claim.sent, key)
        if digest is not None:
            try:
                cached = await self.store.cached(digest)
                if cached is not None:
                    await self.store.store(self.key, cached)  # replaces our lease: later attempts find the result
                    self.token = None
                    return cached
            except StoreUnavailable as err:
                log.warning("inference cache unavailable", key=self.key, error=str(err))  # a miss: we hold the lease
        return None

    async def _hit(self, result_type: type[R], stored: str) -> R:
        """A stored result as this attempt's: nothing billed, `cache_hit` set; its text re-sent as one token event.

        The re-sent text is what makes a retry after a mid-stream crash whole: `step.retrying` told consumers to drop
        the partial text, and this event carries all of it.
        """
        result = result_type.model_validate_json(stored)
        hit = usage_of(result).model_copy(
            update={"billed_tokens": 0, "cache_hit": True, "latency_ms": (time.monotonic() - self.started) * 1000}
        )
        result = result.model_copy(update={"usage": hit})
        if self.call.emit_events:
            if content := getattr(result, "content", ""):
                data = {"delta": content, "attempt": self.attempt}
                await self.publisher.publish(self.job_id, EventType.TOKEN, self.call.step, data)
            data = {"attempt": self.attempt, "usage": hit.model_dump(mode="json")}
            await self.publisher.publish(self.job_id, EventType.STEP_COMPLETED, self.call.step, data)
        return result

    @contextlib.asynccontextmanager
    async def _heartbeating(self) -> AsyncIterator[None]:
        """Heartbeat Temporal, and renew our lease without waiting on it, every quarter of the heartbeat timeout."""

        async def tick() -> None:
            self.beat()  # queued by the SDK: never waits on Redis or the server
            if self.lease is not None and self.token is not None:
                self.lease.kick()

        async with repeating(min(max(self.lease_s / 4, 0.1), 10.0), tick):
            yield

    async def _store(self, result_json: str, digest: str | None, completed: Staged | None) -> bool:
        """Store the result (with `completed` in the same round trip); whether `completed` went out with it."""
        if self.store is None:
            return False
        sent = False
        try:
            await self.store.store(self.key, result_json, after=completed)
            sent = True
            if digest is not None:
                await self.store.cache(digest, result_json)
        except StoreUnavailable as err:
            count_unavailable(self.key, "store", err)
        self.token = None  # the key now holds the result, not our lock
        return sent

    async def _release(self) -> None:
        if self.store is None or self.token is None:
            return
        with contextlib.suppress(StoreUnavailable):
            await self.store.release(self.key, self.token)
        self.token = None

    def _waiting(self, exc: Exception) -> ApplicationError:
        """Redis could not prove our lease: wait and try again (`Throttled`: never counted, bounded by the deadline)."""
        log.warning("waiting for the idempotency store", key=self.key, attempt=self.attempt, error=str(exc))
        self.state.failed(self.attempt, FailureType.THROTTLED.value)
        self.beat()  # keeps the failure count for the next attempt
        message = f"waiting for Redis to hold the never-pay-twice lease: {exc}"
        return ApplicationError(message, type=FailureType.THROTTLED.value, next_retry_delay=REDIS_WAIT_RETRY)

    def _failure(self, exc: Exception) -> ApplicationError:
        """The error this attempt fails with: retryable with an explicit delay, or final with StepFailure details."""
        err = classify(exc)
        kind = FailureType(err.type) if err.type in {t.value for t in FailureType} else FailureType.TRANSIENT
        first = err.details[0] if err.details else None
        status = first.get("status") if isinstance(first, dict) else None
        log.warning("model call failed", key=self.key, attempt=self.attempt, type=kind.value, error=err.message)
        if kind.counts:
            self.state.failures += 1
            self.state.last_error = err.message
        self.state.failed(self.attempt, kind.value)
        if isinstance(exc, InvalidOutputError):
            self.state.billed_tokens += exc.billed_tokens
            self.state.reject(exc.output, str(exc))
        self.beat()  # sent with the failure: the next attempt reads the count from it
        if kind is FailureType.THROTTLED:
            return err  # Retry-After (or the policy's backoff) decides the pause; the deadline bounds the total
        if not err.non_retryable and self.state.failures < MAX_ATTEMPTS:
            delay = backoff_delay(self.state.failures, activity.info().retry_policy)
            return ApplicationError(err.message, *err.details, type=kind.value, next_retry_delay=delay)
        attempts = self.state.failures if kind.counts else self.attempt
        details = StepFailure(
            step=self.call.step,
            type=kind,
            attempts=attempts,
            last_error=err.message,
            status=status,
            idempotency_key=self.key,
        )
        message = f"{self.call.step} gave up after {attempts} attempt(s): {err.message}"
        return ApplicationError(message, details.model_dump(mode="json"), type=kind.value, non_retryable=True)
