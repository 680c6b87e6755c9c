"""Never paid twice while Redis hangs or restarts: the lease (activities/lease.py) against a private redis-server.

Each test runs its own redis-server so it can SIGSTOP (hang) or stop it without touching the session's Redis; the
simulator's ledger, which bills every fully delivered response, is the referee.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from activities.idempotency import IdempotencyStore, LockBusy
from activities.lease import LeaseGuard, LeaseLost
from runtime.keys import RedisKeys
from runtime.processes import ManagedProcess
from runtime.redis import redis_client
from runtime.settings import Settings
from schemas.sim import SimLedger
from tests.helpers import sim_ledger
from tests.inference_probe import InferenceProbe, Probe, probe_worker
from tests.private_redis import hung, private_redis_server, redis_url
from tests.test_inference import chat


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[ManagedProcess]:
    """A redis-server of this test's own."""
    with private_redis_server(tmp_path) as proc:
        yield proc


@pytest_asyncio.fixture
async def private(isolated_settings: Settings, private_redis: ManagedProcess) -> AsyncIterator[Settings]:
    """The test's settings pointed at its private Redis."""
    yield isolated_settings.model_copy(update={"redis_url": redis_url(private_redis)})


async def wait_for_call(sim_url: str, key: str, count: int = 1, timeout: float = 20) -> SimLedger:
    """The ledger once `count` calls under Idempotency-Key `key` have arrived at the simulator."""
    give_up = time.monotonic() + timeout
    while True:
        ledger = await sim_ledger(sim_url, key)
        if key in ledger.entries and len(ledger.entries[key].calls) >= count:
            return ledger
        assert time.monotonic() < give_up, f"no call under {key} within {timeout} s"
        await asyncio.sleep(0.05)


def billed_calls(ledger: SimLedger, key: str) -> list[int]:
    """Tokens billed per call under `key`, for the calls that were billed at all."""
    calls = ledger.entries[key].calls
    return [c.billed_prompt_tokens + c.billed_completion_tokens for c in calls if c.billed_completion_tokens]


async def test_a_live_lease_is_never_taken_over(private: Settings) -> None:
    client = redis_client(private)
    store = IdempotencyStore(client, private)
    try:
        first = await store.acquire("wf/step", attempt=1, lease_s=1.0, wait_s=0)
        assert first.token is not None
        with pytest.raises(LockBusy):  # live, however old its taker thinks it is
            await store.acquire("wf/step", attempt=2, lease_s=1.0, wait_s=0.3)
        assert await store.renew("wf/step", first.token, lease_s=1.0)
        assert not await store.renew("wf/step", "1:0", lease_s=1.0)  # not our value
        # Once Redis has expired it (no renewals), exactly one of two racing attempts takes the key.
        racers = await asyncio.gather(
            store.acquire("wf/step", attempt=2, lease_s=5.0, wait_s=3),
            store.acquire("wf/step", attempt=3, lease_s=5.0, wait_s=2.0),
            return_exceptions=True,
        )
        assert sum(not isinstance(r, BaseException) for r in racers) == 1
        winner = next(r for r in racers if not isinstance(r, BaseException))
        assert await client.get(RedisKeys.of(private).idempotency("wf/step")) == winner.token
        assert not await store.renew("wf/step", first.token, lease_s=1.0)  # the first holder's lease is gone
    finally:
        await client.aclose()


async def test_a_holder_that_cannot_renew_stops_before_its_lease_can_lapse(
    private: Settings, private_redis: ManagedProcess
) -> None:
    client = redis_client(private)
    store = IdempotencyStore(client, private)
    try:
        claim = await store.acquire("wf/hang", attempt=1, lease_s=1.5, wait_s=0)
        token = claim.token or ""
        guard = LeaseGuard(lambda: store.renew("wf/hang", token, 1.5), 1.5, claim.sent, "wf/hang")
        with hung(private_redis):  # no renewal can be confirmed
            stopped = time.monotonic()
            with pytest.raises(LeaseLost):
                async with guard.guarding():
                    while True:  # the "model call", with the renewal ticks a running attempt makes
                        guard.kick()
                        await asyncio.sleep(guard.every_s)
            aborted = time.monotonic()
        # Cancelled at lease x 2/3 after the SET was sent: before Redis could have expired the lease (1.5 s).
        assert 1.5 * 2 / 3 - 0.05 <= aborted - claim.sent < 1.5
        assert aborted - stopped < 1.5
    finally:
        await client.aclose()


async def test_a_hung_redis_mid_call_never_bills_twice(
    client, servers: dict[str, str], private: Settings, private_redis: ManagedProcess, unique: str
) -> None:
    wf, queue = f"lease-hang-{unique}", f"q-{unique}"
    key = f"{wf}/answer"
    probe = Probe(activity="chat", request=chat(f"Hold on [[sim:latency=5s]] {unique}"), heartbeat_timeout_s=2.0)
    store_client = redis_client(private)
    try:
        async with probe_worker(client, private, queue, store_client):
            handle = await client.start_workflow(InferenceProbe.run, probe, id=wf, task_queue=queue)
            await wait_for_call(servers["sim_url"], key)
            with hung(private_redis):  # past the heartbeat timeout, while the call runs on
                await asyncio.sleep(4)
            result = await asyncio.wait_for(handle.result(), 60)
    finally:
        await store_client.aclose()
    ledger = await sim_ledger(servers["sim_url"], key)
    billed = billed_calls(ledger, key)
    assert len(billed) == 1, ledger.entries[key].calls  # the aborted call was never delivered, so never billed
    assert len(ledger.entries[key].calls) >= 2  # and the hang did abort the first call
    assert result["usage"]["billed_tokens"] == billed[0]


async def test_redis_down_waits_and_pays_once_it_is_back(
    client, servers: dict[str, str], private: Settings, private_redis: ManagedProcess, unique: str
) -> None:
    wf, queue = f"lease-down-{unique}", f"q-{unique}"
    key = f"{wf}/answer"
    private_redis.stop(grace=2)
    store_client = redis_client(private)
    try:
        async with probe_worker(client, private, queue, store_client):
            handle = await client.start_workflow(
                InferenceProbe.run, Probe(activity="chat", request=chat(f"Wait {unique}")), id=wf, task_queue=queue
            )
            await asyncio.sleep(4)  # a few attempts find no Redis
            assert key not in (await sim_ledger(servers["sim_url"], key)).entries  # waiting, not calling unlocked
            private_redis.start(timeout=30)  # the same port and data directory: a restart
            result = await asyncio.wait_for(handle.result(), 60)
    finally:
        await store_client.aclose()
    ledger = await sim_ledger(servers["sim_url"], key)
    assert len(ledger.entries[key].calls) == 1
    assert result["usage"]["billed_tokens"] == ledger.entries[key].billed_tokens > 0
