"""Simulator ledger (billing only what was delivered), reset, and concurrency queueing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest
from openai import AsyncOpenAI

from schemas.sim import SimLedger


@pytest.fixture(scope="module")
def sim_url(sim_factory: Callable[..., str]) -> str:
    """A simulator of this module's own."""
    return sim_factory()


async def _ledger(sim_url: str, **params: str) -> SimLedger:
    async with httpx.AsyncClient() as http:
        resp = await http.get(f"{sim_url}/sim/ledger", params=params)
    resp.raise_for_status()
    return SimLedger.model_validate(resp.json())


async def _settled(sim_url: str, key: str, calls: int) -> SimLedger:
    """The ledger once `calls` calls under key have left the pending state."""
    for _ in range(100):
        ledger = await _ledger(sim_url, key=key)
        entry = ledger.entries.get(key)
        if entry and len(entry.calls) >= calls and all(c.status != "pending" for c in entry.calls):
            return ledger
        await asyncio.sleep(0.05)
    raise AssertionError(f"ledger for {key} never settled: {ledger}")


async def test_delivered_bills_what_the_client_saw(llm: AsyncOpenAI, sim_url: str, unique: str) -> None:
    key = f"answer-{unique}/generate_answer"
    headers = {"Idempotency-Key": key}
    plain = await llm.chat.completions.create(
        model="sim-chat", messages=[{"role": "user", "content": "Alpha beta. Gamma delta."}], extra_headers=headers
    )
    stream = await llm.chat.completions.create(
        model="sim-chat",
        messages=[{"role": "user", "content": "Alpha beta. Gamma delta."}],
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=headers,
    )
    (usage,) = [c.usage async for c in stream if c.usage is not None]
    entry = (await _settled(sim_url, key, 2)).entries[key]
    assert plain.usage is not None
    assert [c.status for c in entry.calls] == [200, 200]
    assert [c.stream for c in entry.calls] == [False, True]
    assert entry.calls[0].billed_prompt_tokens == plain.usage.prompt_tokens
    assert entry.calls[0].billed_completion_tokens == plain.usage.completion_tokens
    assert entry.calls[1].billed_prompt_tokens == usage.prompt_tokens
    assert entry.calls[1].billed_completion_tokens == usage.completion_tokens
    assert entry.calls[0].arrival <= entry.calls[1].arrival <= time.time()
    assert entry.billed_tokens == plain.usage.total_tokens + usage.total_tokens


async def test_errors_and_dropped_streams_bill_nothing(llm: AsyncOpenAI, sim_url: str, unique: str) -> None:
    key = f"answer-{unique}/summarize"
    headers = {"Idempotency-Key": key}
    with pytest.raises(Exception):  # noqa: B017 - any client error; the ledger is what is checked
        await llm.chat.completions.create(
            model="sim-chat",
            messages=[{"role": "user", "content": f"x [[sim:500x1#{unique}]]"}],
            extra_headers=headers,
        )
    stream = await llm.chat.completions.create(
        model="sim-chat",
        messages=[{"role": "user", "content": f"Slow answer. [[sim:latency=1s]] {unique}"}],
        stream=True,
        extra_headers=headers,
    )
    await stream.close()  # the client leaves before the first token
    entry = (await _settled(sim_url, key, 2)).entries[key]
    assert [c.status for c in entry.calls] == [500, "disconnected"]
    assert all(c.billed_prompt_tokens == c.billed_completion_tokens == 0 for c in entry.calls)


async def test_key_defaults_to_model_and_text(llm: AsyncOpenAI, sim_url: str, unique: str) -> None:
    messages = [{"role": "user", "content": f"Unkeyed call {unique}."}]
    for _ in range(2):
        await llm.chat.completions.create(model="sim-chat", messages=messages)
    ledger = await _ledger(sim_url, prefix="sim-chat:")
    mine = [e for e in ledger.entries.values() if len(e.calls) == 2 and e.model == "sim-chat"]
    assert mine, ledger
    assert ledger.totals.calls >= 2
    assert ledger.totals.billed_tokens == ledger.totals.billed_prompt_tokens + ledger.totals.billed_completion_tokens


async def test_reset_clears_ledger_and_counters(sim_factory: Callable[..., str]) -> None:
    url = sim_factory()
    async with AsyncOpenAI(base_url=f"{url}/v1", api_key="sim", max_retries=0) as client:
        messages = [{"role": "user", "content": "x [[sim:429x1]]"}]
        with pytest.raises(Exception):  # noqa: B017
            await client.chat.completions.create(model="m", messages=messages)
        await client.chat.completions.create(model="m", messages=messages)
        assert (await _ledger(url)).totals.calls == 2
        async with httpx.AsyncClient() as http:
            assert (await http.post(f"{url}/sim/reset")).json() == {"status": "reset"}
        assert (await _ledger(url)) == SimLedger()
        with pytest.raises(Exception):  # noqa: B017 - the counter starts again
            await client.chat.completions.create(model="m", messages=messages)


async def test_concurrency_queues_requests(sim_factory: Callable[..., str]) -> None:
    url = sim_factory("--concurrency", "2", "--latency", "0.3")
    async with AsyncOpenAI(base_url=f"{url}/v1", api_key="sim", max_retries=0) as client:
        start = time.perf_counter()
        await asyncio.gather(
            *(
                client.chat.completions.create(model="m", messages=[{"role": "user", "content": f"n{i}"}])
                for i in range(6)
            )
        )
        elapsed = time.perf_counter() - start
    assert 0.85 <= elapsed < 3.0


def test_ledger_memory_is_bounded_but_totals_exact() -> None:
    from sim.ledger import MAX_CALLS_PER_KEY, Ledger

    ledger = Ledger(max_keys=2)
    for _ in range(MAX_CALLS_PER_KEY + 50):
        ledger.finish(ledger.begin("same-prompt", "m", "chat", False), 200, 3, 2)
    assert len(ledger.snapshot(key="same-prompt").entries["same-prompt"].calls) == MAX_CALLS_PER_KEY
    assert ledger.calls_for("same-prompt") == MAX_CALLS_PER_KEY + 50  # call numbers (and so RNG draws) go on
    for key in ("b", "c"):
        ledger.begin(key, "m", "chat", False)
    snap = ledger.snapshot()
    assert list(snap.entries) == ["b", "c"]
    assert snap.totals.calls == MAX_CALLS_PER_KEY + 52
    assert snap.totals.billed_tokens == (MAX_CALLS_PER_KEY + 50) * 5
