"""Simulator behaviours a real model shows: max_tokens cuts every reply kind, JSON loops, missing citations, and
`--record-requests` keeping each request's body in the ledger."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from openai import AsyncOpenAI

from activities.wire import response_format
from schemas.answer import EntityList
from tests.helpers import sim_ledger

CONTEXT = """[zephyr.md#0] The Zephyr reactor was commissioned by Amelia Hartwell in 1987.
[harlow.md#0] The Harlow orchard harvest begins in late September.

Question: Who commissioned the Zephyr reactor?"""


@pytest.fixture(scope="module")
def sim_url(sim_factory: Callable[..., str]) -> str:
    """A simulator of this module's own that records request bodies."""
    return sim_factory("--record-requests")


async def test_json_loop_is_cut_by_max_tokens(llm: AsyncOpenAI, unique: str) -> None:
    fmt = response_format("entities", EntityList)
    resp = await llm.chat.completions.create(
        model="sim-chat",
        max_tokens=12,
        response_format=fmt,  # type: ignore[arg-type]
        messages=[{"role": "user", "content": f"{CONTEXT} [[sim:jsonloop=entities#{unique}]]"}],
    )
    choice = resp.choices[0]
    assert choice.finish_reason == "length"
    assert resp.usage is not None and resp.usage.completion_tokens == 12  # billed up to the bound, not beyond
    assert (choice.message.content or "").startswith('{"entities": [{')
    with pytest.raises(json.JSONDecodeError):
        json.loads(choice.message.content or "")


async def test_json_loop_only_for_its_schema(llm: AsyncOpenAI) -> None:
    fmt = response_format("summary_other", EntityList)
    resp = await llm.chat.completions.create(
        model="sim-chat",
        max_tokens=400,
        response_format=fmt,  # type: ignore[arg-type]
        messages=[{"role": "user", "content": f"{CONTEXT} [[sim:jsonloop=entities]]"}],
    )
    assert resp.choices[0].finish_reason == "stop"
    EntityList.model_validate_json(resp.choices[0].message.content or "")


async def test_unbounded_json_loop_runs_to_the_context_window(llm: AsyncOpenAI) -> None:
    fmt = response_format("entities", EntityList)
    resp = await llm.chat.completions.create(
        model="sim-chat",
        response_format=fmt,  # type: ignore[arg-type]
        messages=[{"role": "user", "content": f"{CONTEXT} [[sim:jsonloop]]"}],
    )
    assert resp.choices[0].finish_reason == "length"
    assert resp.usage is not None and resp.usage.completion_tokens == 4096


async def test_nocite_answers_without_chunk_ids(llm: AsyncOpenAI) -> None:
    plain = await llm.chat.completions.create(
        model="sim-chat", messages=[{"role": "user", "content": f"{CONTEXT} [[sim:nocite]]"}]
    )
    text = plain.choices[0].message.content or ""
    assert "Amelia Hartwell" in text and "[" not in text


async def test_max_tokens_cuts_tool_call_arguments(llm: AsyncOpenAI) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "search_docs",
                "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
            },
        }
    ]
    resp = await llm.chat.completions.create(
        model="sim-chat",
        max_tokens=4,
        tools=tools,  # type: ignore[arg-type]
        messages=[{"role": "user", "content": "Please search docs for the retry policy of long workflows."}],
    )
    choice = resp.choices[0]
    assert choice.finish_reason == "length"
    assert resp.usage is not None and resp.usage.completion_tokens == 4
    assert choice.message.tool_calls
    with pytest.raises(json.JSONDecodeError):
        json.loads(choice.message.tool_calls[0].function.arguments)


async def test_streamed_reply_honours_max_tokens(llm: AsyncOpenAI) -> None:
    stream = await llm.chat.completions.create(
        model="sim-chat",
        max_tokens=5,
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": CONTEXT}],
    )
    finish, completion = None, None
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].finish_reason:
            finish = chunk.choices[0].finish_reason
        if chunk.usage is not None:
            completion = chunk.usage.completion_tokens
    assert (finish, completion) == ("length", 5)


async def test_record_requests_keeps_each_body(llm: AsyncOpenAI, sim_url: str, unique: str) -> None:
    key = f"rec-{unique}/step"
    for temperature in (0.0, 0.4):
        await llm.chat.completions.create(
            model="sim-chat",
            temperature=temperature,
            seed=7,
            messages=[{"role": "user", "content": f"Hello {unique}"}],
            extra_headers={"Idempotency-Key": key},
        )
    bodies = [c.request for c in (await sim_ledger(sim_url, prefix=key)).entries[key].calls]
    assert [b["temperature"] if b else None for b in bodies] == [0.0, 0.4]
    assert bodies[0] is not None and bodies[0]["messages"] == [{"role": "user", "content": f"Hello {unique}"}]


async def test_requests_are_not_recorded_by_default(sim_factory: Callable[..., str], unique: str) -> None:
    url = sim_factory()
    async with AsyncOpenAI(base_url=f"{url}/v1", api_key="sim", max_retries=0) as client:
        await client.embeddings.create(
            model="sim-embed", input=["a"], extra_headers={"Idempotency-Key": f"norec-{unique}"}
        )
    entry = (await sim_ledger(url, prefix=f"norec-{unique}")).entries[f"norec-{unique}"]
    assert [c.request for c in entry.calls] == [None]
