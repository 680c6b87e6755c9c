"""OpenAI wire shapes the simulator sends: chat completions, stream chunks, embeddings, models."""

from __future__ import annotations

import time
from typing import Any

from sim.generate import Completion
from sim.tokens import pieces

FINGERPRINT = "fp_sim"


def usage(prompt: int, completion: int) -> dict[str, int]:
    """OpenAI's usage object."""
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _tool_calls(completion: Completion) -> list[dict[str, Any]]:
    return [
        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
        for c in completion.tool_calls
    ]


def chat_completion(ident: str, model: str, completion: Completion) -> dict[str, Any]:
    """A non-streamed `chat.completion`."""
    message: dict[str, Any] = {"role": "assistant", "content": completion.content, "refusal": None}
    if completion.tool_calls:
        message["tool_calls"] = _tool_calls(completion)
    return {
        "id": ident,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": completion.finish_reason}],
        "usage": usage(completion.prompt_tokens, completion.completion_tokens),
        "system_fingerprint": FINGERPRINT,
    }


def stream_chunks(ident: str, model: str, completion: Completion, include_usage: bool) -> list[dict[str, Any]]:
    """Every `chat.completion.chunk` of a stream, in order (the `[DONE]` line is added by the sender).

    First a role chunk, then one chunk per token piece (or per argument piece of a tool call), a chunk
    with the finish_reason, and with include_usage a last chunk with empty choices and the usage.
    """
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": FINGERPRINT,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            body["usage"] = None
        return body

    out: list[dict[str, Any]] = []
    if completion.tool_calls:
        for index, call in enumerate(completion.tool_calls):
            head = {"index": index, "id": call.id, "type": "function", "function": {"name": call.name, "arguments": ""}}
            delta: dict[str, Any] = {"tool_calls": [head]}
            if index == 0:
                delta = {"role": "assistant", "content": None, **delta}
            out.append(chunk(delta))
            out.extend(
                chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
                for piece in pieces(call.arguments)
            )
    else:
        out.append(chunk({"role": "assistant", "content": "", "refusal": None}))
        out.extend(chunk({"content": piece}) for piece in pieces(completion.content or ""))
    out.append(chunk({}, completion.finish_reason))
    if include_usage:
        last = chunk({})
        last["choices"] = []
        last["usage"] = usage(completion.prompt_tokens, completion.completion_tokens)
        out.append(last)
    return out


def embeddings(model: str, vectors: list[list[float] | str], prompt_tokens: int) -> dict[str, Any]:
    """A `list` of `embedding` objects with usage."""
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
        "model": model,
        # OpenAI's (and llama-server's) embedding usage has no completion_tokens.
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


def models(names: tuple[str, ...]) -> dict[str, Any]:
    """`GET /v1/models`."""
    return {
        "object": "list",
        "data": [{"id": n, "object": "model", "created": 0, "owned_by": "genai-flow-sim"} for n in names],
    }
