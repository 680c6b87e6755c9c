"""The lean chat client against a loopback provider that answers what real servers send, odd framing included."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openai
import pytest

from activities import model_api
from activities.errors import classify
from activities.wire import StreamAccumulator

# What the provider answers, by the request's model name: (status, content type, body).
REPLIES: dict[str, tuple[int, str, str]] = {
    # Comments, an `event:` field, one JSON split over two data lines, a usage-only chunk, no [DONE] and no
    # blank line after the last event: all legal SSE that llama.cpp, vLLM or a proxy may send.
    "framed": (
        200,
        "text/event-stream",
        ": keep-alive\n\n"
        'data: {"model": "m1", "choices": [{"index": 0, "delta": {"content": "Hel"}}]}\n\n'
        "event: message\n"
        'data: {"model": "m1", "choices": [{"index": 0,\n'
        'data: "delta": {"content": "lo"}, "finish_reason": "stop"}]}\n\n'
        'data: {"model": "m1", "choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 2}}',
    ),
    "tools": (
        200,
        "text/event-stream",
        'data: {"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "c1", "type": "function", '
        '"function": {"name": "search", "arguments": "{\\"q\\""}}]}}]}\n\n'
        'data: {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}, '
        '"finish_reason": "tool_calls"}]}\n\n'
        "data: [DONE]\n\n",
    ),
    "stream-error": (
        200,
        "text/event-stream",
        'data: {"choices": [{"delta": {"content": "Hi"}}]}\n\n'
        'data: {"error": {"message": "the model is overloaded", "type": "server_error"}}\n\n',
    ),
    "html": (200, "text/html", "<html><body>Bad gateway</body></html>"),
    "no-choices": (200, "application/json", '{"id": "x", "choices": []}'),
    "whole": (
        200,
        "application/json",
        '{"model": "m2", "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok", '
        '"extra": 1}, "finish_reason": "stop", "logprobs": null}], "usage": {"prompt_tokens": 3, '
        '"completion_tokens": 1, "total_tokens": 4}, "system_fingerprint": "fp"}',
    ),
}


class _Provider(BaseHTTPRequestHandler):
    requests: list[tuple[dict[str, str], dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Provider.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
        status, kind, text = REPLIES[body["model"]]
        payload = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Provider)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def _params(model: str) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": "hi"}],
        "extra_headers": {"Idempotency-Key": f"job/{model}"},
        "timeout": 5.0,
    }


async def _streamed(base_url: str, model: str) -> StreamAccumulator:
    llm = openai.AsyncOpenAI(base_url=base_url, api_key="k", max_retries=0)
    acc = StreamAccumulator()
    async with model_api.stream(llm, _params(model)) as chunks:
        async for chunk in chunks:
            acc.add(chunk)
    return acc


async def test_any_legal_sse_framing_is_read_whole(provider: str) -> None:
    acc = await _streamed(provider, "framed")
    assert (acc.content, acc.finish_reason, acc.model) == ("Hello", "stop", "m1")
    assert acc.usage is not None and (acc.usage.prompt_tokens, acc.usage.completion_tokens) == (7, 2)


async def test_streamed_tool_call_fragments_are_joined(provider: str) -> None:
    acc = await _streamed(provider, "tools")
    [call] = acc.tool_calls()
    assert (call.id, call.name, call.arguments, acc.finish_reason) == ("c1", "search", '{"q": 1}', "tool_calls")


async def test_an_error_inside_the_stream_is_a_transient_failure(provider: str) -> None:
    with pytest.raises(openai.APIError, match="overloaded") as caught:
        await _streamed(provider, "stream-error")
    assert classify(caught.value).type == "Transient"


@pytest.mark.parametrize("model", ["html", "no-choices"])
async def test_a_body_that_is_no_completion_is_a_transient_failure_not_invalid_output(
    provider: str, model: str
) -> None:
    llm = openai.AsyncOpenAI(base_url=provider, api_key="k", max_retries=0)
    with pytest.raises(openai.APIResponseValidationError) as caught:
        await model_api.complete(llm, _params(model))
    failure = classify(caught.value)
    assert failure.type == "Transient" and "malformed response" in str(failure), failure


async def test_request_carries_headers_as_headers_and_unknown_reply_fields_are_ignored(provider: str) -> None:
    llm = openai.AsyncOpenAI(base_url=provider, api_key="k", max_retries=0)
    reply = await model_api.complete(llm, {**_params("whole"), "temperature": 0.0})
    assert reply.model == "m2" and reply.choices[0].message.content == "ok"
    assert reply.choices[0].finish_reason == "stop" and reply.usage is not None and reply.usage.prompt_tokens == 3
    headers, body = _Provider.requests[-1]
    assert headers["idempotency-key"] == "job/whole" and headers["authorization"] == "Bearer k"
    assert body == {"model": "whole", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.0,
                    "stream": False}  # fmt: skip
