"""The simulator against llama.cpp's llama-server: the same requests to both, the shapes our code relies on compared.

Where they differed in a way that matters, the simulator was fixed (tests/test_sim_limits.py) or the classifier
learned the real server's wording (tests/test_errors.py). What is left different on purpose is listed in
docs/models.md (llama-server's extra `timings`, its 500 for a malformed JSON body, a model without tool support).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import httpx
import jsonschema
import openai
import pytest

from activities.errors import classify
from tests_real.conftest import SEED

STORY = [{"role": "user", "content": "Write a long story about a dragon who learns to bake bread."}]
CHAT_KEYS = {"id", "object", "created", "model", "choices", "usage"}
USAGE_KEYS = {"prompt_tokens", "completion_tokens", "total_tokens"}


@pytest.fixture(scope="module")
def sides(servers: dict[str, str], sim_factory: Callable[..., str]) -> dict[str, dict[str, str]]:
    """chat and embeddings base URLs of each side; the simulator with the real chat server's context (4,096 per slot)
    and the real embedding model's input limit (512)."""
    sim = sim_factory("--context-window", "4096", "--embed-max-tokens", "512")
    return {
        "sim": {"chat": sim, "embed": sim},
        "real": {"chat": servers["chat_url"], "embed": servers["embed_url"]},
    }


def post(base: str, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{base}{path}", json=body, timeout=300)


def stream(base: str, body: dict[str, Any]) -> list[str]:
    """The `data:` payloads of a streamed chat completion, `[DONE]` included."""
    with httpx.stream("POST", f"{base}/v1/chat/completions", json={**body, "stream": True}, timeout=300) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        return [line.removeprefix("data: ") for line in r.iter_lines() if line.startswith("data: ")]


@pytest.mark.parametrize("side", ["sim", "real"])
def test_completion_shape_usage_and_finish_reasons(sides: dict[str, dict[str, str]], side: str) -> None:
    base = sides[side]["chat"]
    cut = post(
        base, "/v1/chat/completions", {"model": "m", "messages": STORY, "temperature": 0, "seed": SEED, "max_tokens": 5}
    )
    body = cut.json()
    assert cut.status_code == 200 and set(body) >= CHAT_KEYS and body["object"] == "chat.completion"
    choice = body["choices"][0]
    assert (
        choice["index"] == 0
        and choice["message"]["role"] == "assistant"
        and isinstance(choice["message"]["content"], str)
    )
    assert choice["finish_reason"] == "length"
    usage = body["usage"]
    assert set(usage) >= USAGE_KEYS and usage["completion_tokens"] == 5
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    short = post(
        base,
        "/v1/chat/completions",
        {"model": "m", "messages": [{"role": "user", "content": "Say OK."}], "temperature": 0, "max_tokens": 200},
    )
    assert short.json()["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize("side", ["sim", "real"])
def test_stream_chunks(sides: dict[str, dict[str, str]], side: str) -> None:
    base = sides[side]["chat"]
    request = {"model": "m", "messages": STORY, "temperature": 0, "max_tokens": 4}
    data = stream(base, {**request, "stream_options": {"include_usage": True}})
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"} and len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    finishing = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert [c["choices"][0]["finish_reason"] for c in finishing] == ["length"]
    last = chunks[-1]
    assert last["choices"] == [] and last["usage"]["completion_tokens"] == 4  # usage comes last, on its own
    assert all(not c.get("usage") for c in chunks[:-1])
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text.strip()
    plain = [json.loads(d) for d in stream(base, request)[:-1]]
    assert all(not c.get("usage") for c in plain)  # without include_usage: no usage anywhere


@pytest.mark.parametrize("side", ["sim", "real"])
def test_error_bodies_and_their_classes(sides: dict[str, dict[str, str]], side: str) -> None:
    base = sides[side]
    missing = post(base["chat"], "/v1/chat/completions", {"model": "m"})
    assert missing.status_code == 400
    error = missing.json()["error"]
    assert error["type"] == "invalid_request_error" and "messages" in error["message"]

    too_long = {"model": "m", "messages": [{"role": "user", "content": "word " * 6000}], "max_tokens": 2}
    over_context = _sdk_error(base["chat"], lambda llm: llm.chat.completions.create(**too_long))
    assert over_context.status_code == 400
    too_big = _sdk_error(base["embed"], lambda llm: llm.embeddings.create(model="e", input="word " * 700))
    for err in (over_context, too_big):  # 400 on both for chat; llama-server answers the embedding with a 500
        classified = classify(err)
        assert (classified.type, classified.non_retryable) == ("Permanent", True), classified
        assert "context length exceeded" in classified.message


def _sdk_error(base: str, call: Callable[[openai.OpenAI], Any]) -> openai.APIStatusError:
    with (
        openai.OpenAI(base_url=f"{base}/v1", api_key="x", max_retries=0, timeout=300) as llm,
        pytest.raises(openai.APIStatusError) as caught,
    ):
        call(llm)
    return caught.value


@pytest.mark.parametrize("side", ["sim", "real"])
def test_embedding_shape_and_usage(sides: dict[str, dict[str, str]], side: str) -> None:
    base = sides[side]["embed"]
    body = post(
        base, "/v1/embeddings", {"model": "e", "input": ["hello world", "second"], "encoding_format": "float"}
    ).json()
    assert body["object"] == "list" and [d["index"] for d in body["data"]] == [0, 1]
    assert {d["object"] for d in body["data"]} == {"embedding"}
    assert set(body["usage"]) == {"prompt_tokens", "total_tokens"} and body["usage"]["prompt_tokens"] > 0
    width = len(body["data"][0]["embedding"])
    packed = post(base, "/v1/embeddings", {"model": "e", "input": "hello world", "encoding_format": "base64"}).json()
    assert len(base64.b64decode(packed["data"][0]["embedding"])) == 4 * width  # float32, as the openai client reads


@pytest.mark.parametrize("side", ["sim", "real"])
def test_json_schema_replies_validate(sides: dict[str, dict[str, str]], side: str) -> None:
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string"}},
        "required": ["title"],
        "additionalProperties": False,
    }
    body = post(
        sides[side]["chat"],
        "/v1/chat/completions",
        {
            "model": "m",
            "messages": [{"role": "user", "content": "Give a title for a story about bread."}],
            "temperature": 0,
            "max_tokens": 100,
            "response_format": {"type": "json_schema", "json_schema": {"name": "t", "strict": True, "schema": schema}},
        },
    ).json()
    assert body["choices"][0]["finish_reason"] == "stop"
    jsonschema.validate(json.loads(body["choices"][0]["message"]["content"]), schema)


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "search_documents",
            "description": "Search the documents",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
        },
    }
]


@pytest.mark.parametrize("side", ["sim", "real"])
def test_tool_requests_get_openai_tool_calls_or_text(sides: dict[str, dict[str, str]], side: str) -> None:
    """Both accept `tools`; a reply is OpenAI tool calls (the simulator) or plain text: SmolLM2-135M's chat template
    declares no tool support, and llama-server then answers in text even with tool_choice=required."""
    body = post(
        sides[side]["chat"],
        "/v1/chat/completions",
        {
            "model": "m",
            "messages": [{"role": "user", "content": "Search the documents for reactors."}],
            "tools": TOOLS,
            "tool_choice": "required",
            "temperature": 0,
            "max_tokens": 40,
        },
    ).json()
    choice = body["choices"][0]
    calls = choice["message"].get("tool_calls")
    if side == "sim":
        assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
        [call] = calls
        assert call["type"] == "function" and call["id"] and call["function"]["name"] == "search_documents"
        assert isinstance(json.loads(call["function"]["arguments"]), dict)
    else:
        assert not calls and choice["finish_reason"] in ("stop", "length") and choice["message"]["content"]
