"""Simulator markers and fault injection, seen through the official openai client."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import httpx
import openai
import pytest
from openai import AsyncOpenAI

from schemas.answer import Summary
from schemas.sim import inert_markers
from tests.helpers import arm_sim_fault


@pytest.fixture(scope="module")
def sim_url(sim_factory: Callable[..., str]) -> str:
    """A simulator of this module's own, two slots so hangs holding slots would show."""
    return sim_factory("--concurrency", "2", "--retry-after", "0.25")


def _user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


async def test_counted_429_fails_twice_then_succeeds_with_retry_headers(llm: AsyncOpenAI, unique: str) -> None:
    prompt = f"Say hello. [[sim:429x2#{unique}]]"
    for _ in range(2):
        with pytest.raises(openai.RateLimitError) as err:
            await llm.chat.completions.create(model="sim-chat", messages=_user(prompt))
        assert err.value.response.headers["retry-after-ms"] == "250"
        assert err.value.response.headers["retry-after"] == "1"
        assert err.value.body["code"] == "rate_limit_exceeded"  # type: ignore[index]
    ok = await llm.chat.completions.create(model="sim-chat", messages=_user(prompt))
    assert ok.choices[0].message.content == "Say hello."  # the marker was stripped before answering


async def test_tags_keep_counters_apart_across_messages_and_endpoints(llm: AsyncOpenAI, unique: str) -> None:
    first, second = f"[[sim:503x1#{unique}a]]", f"[[sim:503x1#{unique}b]]"
    with pytest.raises(openai.InternalServerError) as err:
        await llm.chat.completions.create(
            model="sim-chat", messages=[{"role": "system", "content": first}, *_user("Hi.")]
        )
    assert err.value.status_code == 503 and "retry-after-ms" in err.value.response.headers
    # The other tag has its own count, also through the embeddings endpoint.
    with pytest.raises(openai.InternalServerError):
        await llm.embeddings.create(model="sim-embed", input=f"text {second}")
    await llm.embeddings.create(model="sim-embed", input=f"text {second}")
    await llm.chat.completions.create(model="sim-chat", messages=_user(f"Hi. {first}"))


async def test_500_marker_and_poison(llm: AsyncOpenAI, unique: str) -> None:
    with pytest.raises(openai.InternalServerError) as err:
        await llm.chat.completions.create(model="sim-chat", messages=_user(f"x [[sim:500x1#{unique}]]"))
    assert err.value.status_code == 500 and "retry-after" not in err.value.response.headers
    for _ in range(3):
        with pytest.raises(openai.InternalServerError) as err:
            await llm.chat.completions.create(model="sim-chat", messages=_user(f"x [[sim:poison]] {unique}"))
        assert err.value.status_code == 500


async def test_an_escaped_marker_is_text_and_a_document_quoting_markers_is_data(llm: AsyncOpenAI, unique: str) -> None:
    quoted = inert_markers(f"Poison looks like [[sim:poison]] and a hang like [[sim:hangx1#{unique}]]. {unique}")
    assert quoted.count("\\[[sim:") == 2 and inert_markers(quoted) == quoted
    reply = await llm.chat.completions.create(model="sim-chat", messages=_user(quoted), timeout=5)
    assert "\\[[sim:poison]]" in (reply.choices[0].message.content or "")  # read as text, quoted back
    vectors = await llm.embeddings.create(model="sim-embed", input=[quoted], timeout=5)
    assert len(vectors.data) == 1
    # The author's own markers beside a quoted one still act.
    with pytest.raises(openai.InternalServerError):
        await llm.chat.completions.create(model="sim-chat", messages=_user(f"{quoted} [[sim:500x1#{unique}]]"))


async def test_a_fault_armed_for_a_text_fails_the_calls_that_carry_it(
    llm: AsyncOpenAI, sim_url: str, unique: str
) -> None:
    await arm_sim_fault(sim_url, f"flaky-{unique}", "503x2")
    for _ in range(2):
        with pytest.raises(openai.APIStatusError) as err:
            await llm.embeddings.create(model="sim-embed", input=[f"a chunk of flaky-{unique}"])
        assert err.value.status_code == 503
    await llm.embeddings.create(model="sim-embed", input=[f"a chunk of flaky-{unique}"])  # the third gets through
    await llm.chat.completions.create(model="sim-chat", messages=_user(f"other text {unique}"))  # never matched
    async with httpx.AsyncClient(base_url=sim_url) as http:
        refused = await http.post("/sim/faults", json={"match": unique, "marker": "explode"})
        assert refused.status_code == 400 and "unknown marker" in refused.json()["error"]["message"]
        assert {"match": f"flaky-{unique}", "marker": "503x2"} in (await http.get("/sim/faults")).json()


async def test_latency_marker(llm: AsyncOpenAI, unique: str) -> None:
    start = time.perf_counter()
    await llm.chat.completions.create(model="sim-chat", messages=_user(f"Slow. [[sim:latency=400ms]] {unique}"))
    assert time.perf_counter() - start >= 0.39


async def test_hang_times_out_and_holds_no_slot(llm: AsyncOpenAI, sim_url: str, unique: str) -> None:
    hanging = [
        llm.chat.completions.create(model="sim-chat", messages=_user(f"Wait. [[sim:hangx3#{unique}]]"), timeout=0.6)
        for _ in range(3)
    ]
    start = time.perf_counter()
    # Three hangs on a two-slot simulator: a normal call still gets served meanwhile.
    normal = asyncio.create_task(llm.chat.completions.create(model="sim-chat", messages=_user(f"Quick. {unique}")))
    results = await asyncio.gather(*hanging, return_exceptions=True)
    assert all(isinstance(r, openai.APITimeoutError) for r in results)
    assert time.perf_counter() - start >= 0.55
    assert ((await normal).choices[0].message.content or "").startswith("Quick.")
    ok = await llm.chat.completions.create(model="sim-chat", messages=_user(f"Wait. [[sim:hangx3#{unique}]]"))
    assert ok.choices[0].message.content == "Wait."
    async with httpx.AsyncClient() as http:
        ledger = (await http.get(f"{sim_url}/sim/ledger", params={"prefix": "sim-chat:"})).json()
    statuses = [c["status"] for e in ledger["entries"].values() for c in e["calls"] if c["fault"] == "hang"]
    assert statuses.count("hang") >= 3


async def test_badjson_breaks_structured_output(llm: AsyncOpenAI, unique: str) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "Summary", "schema": Summary.model_json_schema()}}
    prompt = f"Temporal retries activities. Workers poll queues. [[sim:badjsonx1#{unique}]]"
    bad = await llm.chat.completions.create(model="sim-chat", messages=_user(prompt), response_format=fmt)
    content = bad.choices[0].message.content or ""
    with pytest.raises(ValueError):
        Summary.model_validate_json(content)
    good = await llm.chat.completions.create(model="sim-chat", messages=_user(prompt), response_format=fmt)
    assert Summary.model_validate_json(good.choices[0].message.content or "").summary


async def test_truncate_cuts_stream_and_marks_non_stream_length(llm: AsyncOpenAI, unique: str) -> None:
    text = "First sentence here. Second sentence follows. Third one ends it."
    stream = await llm.chat.completions.create(
        model="sim-chat", messages=_user(f"{text} [[sim:truncatex1#{unique}s]]"), stream=True
    )
    received = []
    with pytest.raises((httpx.HTTPError, openai.APIError)):
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert 0 < len("".join(received)) < len(text)
    cut = await llm.chat.completions.create(model="sim-chat", messages=_user(f"{text} [[sim:truncatex1#{unique}n]]"))
    assert cut.choices[0].finish_reason == "length"
    full = await llm.chat.completions.create(model="sim-chat", messages=_user(text))
    assert (cut.choices[0].message.content or "") in (full.choices[0].message.content or "")
    assert cut.usage is not None and full.usage is not None
    assert cut.usage.completion_tokens < full.usage.completion_tokens


async def test_badjson_on_tool_arguments(llm: AsyncOpenAI, unique: str) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "search",
                "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
            },
        }
    ]
    resp = await llm.chat.completions.create(
        model="sim-chat", tools=tools, messages=_user(f"search the docs [[sim:badjsonx1#{unique}]]")
    )
    with pytest.raises(json.JSONDecodeError):
        json.loads(resp.choices[0].message.tool_calls[0].function.arguments)


async def _pattern(client: AsyncOpenAI, tag: str) -> list[str]:
    outcomes = []
    for i in range(24):
        try:
            resp = await client.chat.completions.create(
                model="sim-chat", messages=_user(f"Request {i} {tag}."), timeout=5
            )
            outcomes.append(resp.choices[0].finish_reason or "")
        except openai.APIStatusError as err:
            outcomes.append(str(err.status_code))
    return outcomes


async def test_global_faults_are_deterministic_by_seed(sim_factory: Callable[..., str]) -> None:
    flags = ("--fault", "429=0.2,503=0.1,500=0.1,truncate=0.2")
    urls = [sim_factory("--seed", "7", *flags), sim_factory("--seed", "8", *flags)]
    clients = [AsyncOpenAI(base_url=f"{u}/v1", api_key="sim", max_retries=0) for u in urls]
    try:
        first = await _pattern(clients[0], "same")
        async with httpx.AsyncClient() as http:
            assert (await http.post(f"{urls[0]}/sim/reset")).status_code == 200
        again = await _pattern(clients[0], "same")
        other = await _pattern(clients[1], "same")
    finally:
        for c in clients:
            await c.close()
    assert first == again
    assert first != other
    assert {"429", "503", "500", "length", "stop"} <= set(first) | set(other)
