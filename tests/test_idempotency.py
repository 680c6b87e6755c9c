"""Never paid twice: the Redis lock and result store, on their own and through a real worker and the simulator."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest
import redis.asyncio
from temporalio.testing import ActivityEnvironment

from activities.attempt import StepRunner
from activities.faults import FAULT_EXIT_CODE
from activities.idempotency import COMPLETED, IdempotencyStore, LockBusy, parse_lock
from activities.inference import InferenceActivities
from activities.llm import make_llm
from runtime.keys import RedisKeys
from runtime.settings import Settings
from schemas.inference import ChatRequest, ChatResult
from schemas.usage import Usage
from tests.helpers import sim_ledger
from tests.inference_probe import InferenceProbe, Probe, probe_worker, run_probe
from tests.test_inference import billed, chat


async def test_store_lock_states(isolated_settings: Settings, isolated_redis: redis.asyncio.Redis) -> None:
    store = IdempotencyStore(isolated_redis, isolated_settings)
    first = await store.acquire("wf/step", attempt=1, lease_s=5, wait_s=0)
    assert first.token is not None and parse_lock(first.token) is not None
    assert parse_lock(first.token)[0] == 1  # type: ignore[index]
    with pytest.raises(LockBusy):  # live lease, nothing left to wait
        await store.acquire("wf/step", attempt=2, lease_s=5, wait_s=0)
    assert not await store.renew("wf/step", "1:0", lease_s=5)  # not our token
    assert await store.renew("wf/step", first.token, lease_s=5)
    await store.release("wf/step", first.token)
    again = await store.acquire("wf/step", attempt=2, lease_s=5, wait_s=0)
    assert again.token is not None
    await store.store("wf/step", '{"x": 1}')
    assert await store.completed("wf/step") == '{"x": 1}'
    found = await store.acquire("wf/step", attempt=3, lease_s=5, wait_s=0)
    assert (found.token, found.stored) == (None, '{"x": 1}')


async def test_a_renewal_batch_that_fails_outside_redis_fails_its_waiters_at_once(
    isolated_settings: Settings, isolated_redis: redis.asyncio.Redis
) -> None:
    # A token Redis' client cannot encode (a lone surrogate) makes the batch's pipeline raise UnicodeEncodeError, not
    # a Redis error. The valid renewal queued in the same batch must fail with it at once: neither waits out its
    # lease for an answer that never comes, and neither is taken for a proven renewal.
    store = IdempotencyStore(isolated_redis, isolated_settings)
    held = await store.acquire("wf/renew", attempt=1, lease_s=10, wait_s=0)
    assert held.token is not None
    started = time.monotonic()
    outcomes = await asyncio.gather(
        store.renew("wf/renew", held.token, lease_s=10),
        store.renew("wf/other", "1:\ud800", lease_s=10),
        return_exceptions=True,
    )
    elapsed = time.monotonic() - started
    assert all(isinstance(o, UnicodeEncodeError) for o in outcomes), outcomes
    assert elapsed < 3.0, f"renewals answered after {elapsed:.1f} s (the lease is 10 s)"
    # The next batch goes out as usual: the lease is still ours.
    assert await store.renew("wf/renew", held.token, lease_s=10) is True


async def test_second_execution_of_a_step_is_not_paid_again(
    client, servers: dict[str, str], isolated_settings: Settings, isolated_redis: redis.asyncio.Redis, unique: str
) -> None:
    wf = f"idem-again-{unique}"
    probe = Probe(activity="chat", request=chat(f"Tell me about locks {unique}"))
    async with probe_worker(client, isolated_settings, f"q-{unique}", isolated_redis):
        first = await run_probe(client, f"q-{unique}", wf, probe)
        second = await run_probe(client, f"q-{unique}", wf, probe)  # same workflow id, same step
    assert first["usage"]["billed_tokens"] > 0 and first["usage"]["cache_hit"] is False
    assert second["usage"]["billed_tokens"] == 0 and second["usage"]["cache_hit"] is True
    assert second["content"] == first["content"]
    ledger = await sim_ledger(servers["sim_url"], f"{wf}/")
    assert len(ledger.entries[f"{wf}/answer"].calls) == 1
    assert billed(ledger) == first["usage"]["billed_tokens"] + second["usage"]["billed_tokens"]


async def test_cross_job_cache_serves_deterministic_calls(
    client, servers: dict[str, str], isolated_settings: Settings, isolated_redis: redis.asyncio.Redis, unique: str
) -> None:
    cached = isolated_settings.model_copy(update={"cross_job_cache": True})
    probe = Probe(activity="chat", request=chat(f"Cache me {unique}"))
    async with probe_worker(client, cached, f"q-{unique}", isolated_redis):
        first = await run_probe(client, f"q-{unique}", f"idem-a-{unique}", probe)
        other = await run_probe(client, f"q-{unique}", f"idem-b-{unique}", probe)
        warm = Probe(activity="chat", request=chat(f"Cache me {unique}", temperature=0.7))
        hot = await run_probe(client, f"q-{unique}", f"idem-c-{unique}", warm)
    assert (other["usage"]["billed_tokens"], other["usage"]["cache_hit"]) == (0, True)
    assert other["content"] == first["content"]
    assert hot["usage"]["cache_hit"] is False  # temperature > 0 is never served from the cache
    assert f"idem-b-{unique}/answer" not in (await sim_ledger(servers["sim_url"], f"idem-b-{unique}/")).entries


async def test_a_crashed_holders_lease_is_taken_once_redis_expires_it(
    client, servers: dict[str, str], isolated_settings: Settings, isolated_redis: redis.asyncio.Redis, unique: str
) -> None:
    wf = f"idem-stale-{unique}"
    key = RedisKeys.of(isolated_settings).idempotency(f"{wf}/answer")
    # A crashed holder's lease, taken a minute ago by its clock but live for 1.5 s more in Redis: it is waited for.
    await isolated_redis.set(key, f"1:{int(time.time() * 1000) - 60_000}", px=1500)
    set_at = time.time()
    async with probe_worker(client, isolated_settings, f"q-{unique}", isolated_redis):
        result = await run_probe(client, f"q-{unique}", wf, Probe(activity="chat", request=chat("Take over")))
    ledger = await sim_ledger(servers["sim_url"], f"{wf}/")
    assert 1.4 <= ledger.entries[f"{wf}/answer"].calls[0].arrival - set_at < 10  # called only after Redis expired it
    assert result["usage"]["billed_tokens"] > 0
    assert len(ledger.entries[f"{wf}/answer"].calls) == 1
    assert (await isolated_redis.get(key)).startswith(COMPLETED)


async def test_live_lock_is_waited_for(
    client, servers: dict[str, str], isolated_settings: Settings, isolated_redis: redis.asyncio.Redis, unique: str
) -> None:
    wf = f"idem-live-{unique}"
    key = RedisKeys.of(isolated_settings).idempotency(f"{wf}/answer")
    stored = ChatResult(
        content="from the other attempt", usage=Usage(model="sim-chat", prompt_tokens=3, billed_tokens=3)
    )

    async def other_attempt() -> None:
        # Another attempt holds the lock, heartbeating, for 2.5 s, then stores its result.
        for _ in range(10):
            await isolated_redis.set(key, f"1:{int(time.time() * 1000)}")
            await asyncio.sleep(0.25)
        await isolated_redis.set(key, COMPLETED + stored.model_dump_json())

    holder = asyncio.create_task(other_attempt())
    await asyncio.sleep(0.1)
    started = time.monotonic()
    async with probe_worker(client, isolated_settings, f"q-{unique}", isolated_redis):
        result = await run_probe(client, f"q-{unique}", wf, Probe(activity="chat", request=chat("Wait for it")))
    await holder
    assert time.monotonic() - started >= 2.0
    assert result["content"] == "from the other attempt"
    assert (result["usage"]["billed_tokens"], result["usage"]["cache_hit"]) == (0, True)
    assert f"{wf}/answer" not in (await sim_ledger(servers["sim_url"], f"{wf}/")).entries  # never called


def test_fault_point_exits_the_process(tmp_path) -> None:
    code = (
        "from activities.faults import fault_point\n"
        "from runtime.settings import load_settings\n"
        "s = load_settings()\n"
        "fault_point(s, 'generate_answer', 'after_call')\n"
        "print('survived after_call', flush=True)\n"
        "fault_point(s, 'generate_answer', 'after_store')\n"
        "print('survived after_store')\n"
    )
    env = {"GENAI_FLOW_FAULT_POINT": "generate_answer:after_store", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == FAULT_EXIT_CODE
    assert proc.stdout.strip() == "survived after_call"
    assert "test hook" in proc.stderr


@pytest.mark.parametrize("point", ["before_call", "after_store"])
async def test_worker_crash_is_recovered_without_paying_twice(
    client,
    servers: dict[str, str],
    isolated_settings: Settings,
    isolated_redis: redis.asyncio.Redis,
    unique: str,
    point: str,
) -> None:
    wf, queue, acts_queue = f"idem-crash-{unique}", f"q-{unique}", f"qa-{unique}"
    env = {
        **os.environ,
        "GENAI_FLOW_KEY_PREFIX": isolated_settings.key_prefix,
        "GENAI_FLOW_CROSS_JOB_CACHE": "false",
        "GENAI_FLOW_FAULT_POINT": f"answer:{point}",
    }
    doomed = subprocess.Popen(
        [sys.executable, "-m", "tests.inference_worker", acts_queue], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert (await asyncio.to_thread(doomed.stdout.readline)).strip() == "ready"  # type: ignore[union-attr]
        probe = Probe(activity="chat", request=chat(f"Crash here {unique}"), activity_queue=acts_queue)
        async with probe_worker(client, isolated_settings, queue, isolated_redis, activities=False):
            handle = await client.start_workflow(InferenceProbe.run, probe, id=wf, task_queue=queue)
            assert await asyncio.to_thread(doomed.wait, 30) == FAULT_EXIT_CODE
            lock = await isolated_redis.get(RedisKeys.of(isolated_settings).idempotency(f"{wf}/answer"))
            assert lock is not None and (lock.startswith(COMPLETED) if point == "after_store" else parse_lock(lock))
            # A healthy worker takes over once the dead attempt's heartbeat timeout (2 s) has passed.
            async with probe_worker(client, isolated_settings, acts_queue, isolated_redis, workflows=False):
                result = await asyncio.wait_for(handle.result(), 60)
    finally:
        if doomed.poll() is None:
            doomed.kill()
        doomed.wait()
    ledger = await sim_ledger(servers["sim_url"], f"{wf}/")
    assert len(ledger.entries[f"{wf}/answer"].calls) == 1  # one model call, whichever side of it the crash hit
    assert billed(ledger) > 0
    # after_store: the dead attempt paid and stored, so the next one returns the stored result as a hit.
    expected_hit = point == "after_store"
    assert result["usage"]["cache_hit"] is expected_hit
    assert (result["usage"]["billed_tokens"] == 0) is expected_hit


class _CancelledOncePaid(StepRunner):
    """A runner whose attempt is cancelled the moment its model call has answered (as when the server times the
    attempt out while Temporal was down, its cancel landing after the provider delivered)."""

    async def run(self, call, result_type, compute, cache_digest=None):  # type: ignore[no-untyped-def]
        async def answered_then_cancelled(ctx):  # type: ignore[no-untyped-def]
            result = await compute(ctx)
            task = asyncio.current_task()
            assert task is not None
            task.cancel()  # raised at the attempt's next wait, right after the paid call
            return result

        return await super().run(call, result_type, answered_then_cancelled, cache_digest)


@pytest.mark.parametrize("stream", [False, True])
async def test_an_attempt_cancelled_once_its_call_is_paid_keeps_the_result(
    servers: dict[str, str], isolated_settings: Settings, isolated_redis: redis.asyncio.Redis, unique: str, stream: bool
) -> None:
    wf = f"paid-cancel-{unique}"
    request = ChatRequest.model_validate(chat(f"Cancel me once paid {unique}", stream=stream))
    llm = make_llm(isolated_settings)
    acts = InferenceActivities(llm, isolated_redis, isolated_settings)
    acts.runner = _CancelledOncePaid(acts.runner.store, acts.runner.publisher, isolated_settings)
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id=wf, attempt=1, heartbeat_timeout=timedelta(seconds=6))
    first = asyncio.create_task(env.run(acts.chat, request))
    with pytest.raises(asyncio.CancelledError):
        await first
    # The next attempt (a plain runner) finds the paid result stored: no second call, nothing billed twice.
    acts.runner = StepRunner(acts.runner.store, acts.runner.publisher, isolated_settings)
    env.info = dataclasses.replace(env.info, attempt=2)
    result = await env.run(acts.chat, request)
    await llm.close()
    key = f"{wf}/answer"
    ledger = await sim_ledger(servers["sim_url"], key)
    assert len(ledger.entries[key].calls) == 1, ledger.entries[key].calls  # paid once
    assert ledger.entries[key].billed_tokens > 0
    assert result.usage.cache_hit and result.content.startswith("Cancel me once paid")  # the stored result
