"""Simulator fixes found by comparing it with llama.cpp's llama-server (tests_real/test_sim_parity.py).

A real server refuses a prompt longer than its context and an embedding input longer than its model takes; the
simulator answered both. It now refuses them as OpenAI does, and the classifier reads either wording as a
Permanent "context length exceeded". Embedding usage carries no completion_tokens, as on both real servers.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import openai
import pytest
from openai import AsyncOpenAI

from activities.errors import classify


@pytest.fixture(scope="module")
def sim_url(sim_factory: Callable[..., str]) -> str:
    """A simulator with small limits: 50 prompt tokens per chat, 20 tokens per embedding input."""
    return sim_factory("--context-window", "50", "--embed-max-tokens", "20")


async def test_a_prompt_over_the_context_window_is_refused(llm: AsyncOpenAI, sim_url: str) -> None:
    fits = await llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "word " * 40}])
    assert fits.choices[0].finish_reason in ("stop", "length")
    with pytest.raises(openai.BadRequestError) as caught:
        await llm.chat.completions.create(model="m", messages=[{"role": "user", "content": "word " * 60}])
    assert caught.value.code == "context_length_exceeded" and caught.value.param == "messages"
    assert "maximum context length is 50 tokens" in caught.value.message
    err = classify(caught.value)
    assert (err.type, err.non_retryable) == ("Permanent", True) and "context length exceeded" in err.message
    # Refused calls are not billed.
    async with httpx.AsyncClient(base_url=sim_url) as http:
        totals = (await http.get("/sim/ledger")).json()["totals"]
    assert totals["billed_prompt_tokens"] == fits.usage.prompt_tokens


async def test_an_embedding_input_over_the_limit_is_refused(llm: AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await llm.embeddings.create(model="e", input=["short", "token " * 30])
    assert caught.value.param == "input" and "input[1]" in caught.value.message
    assert classify(caught.value).type == "Permanent"


async def test_embedding_usage_has_prompt_and_total_tokens_only(sim_url: str) -> None:
    async with httpx.AsyncClient(base_url=sim_url) as http:
        body = (await http.post("/v1/embeddings", json={"model": "e", "input": "hello world"})).json()
    assert set(body["usage"]) == {"prompt_tokens", "total_tokens"}
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] > 0


async def test_an_outage_with_a_rate_refuses_that_share_of_calls(sim_url: str) -> None:
    chat = {"model": "m", "messages": [{"role": "user", "content": "storm"}]}
    async with httpx.AsyncClient(base_url=sim_url) as http:
        assert (await http.post("/sim/outage", json={"status": 429, "seconds": 30, "rate": 0})).status_code == 422
        view = (await http.post("/sim/outage", json={"status": 429, "seconds": 30, "rate": 0.5})).json()
        assert view["outage_status"] == 429 and view["outage_rate"] == 0.5
        answers = [await http.post("/v1/chat/completions", json=chat) for _ in range(60)]
        refused = [r for r in answers if r.status_code == 429]
        assert 15 <= len(refused) <= 45 and all(r.status_code == 200 for r in answers if r not in refused)
        assert all(float(r.headers["retry-after-ms"]) > 0 for r in refused)
        await http.post("/sim/outage", json={"status": 429, "seconds": 0})  # over: every call answered again
        after = [(await http.post("/v1/chat/completions", json=chat)).status_code for _ in range(5)]
        assert after == [200] * 5
