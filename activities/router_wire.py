"""What the model router reads from requests and responses (no I/O): token estimates, counted usage, pause headers.

Token estimate (before a call, no tokenizer download): per text its word and punctuation runs (`Hello, world!` is
4), plus 3 per chat message, plus the JSON of `tools` at 4 characters a token, plus `max_tokens` (1,024 when absent,
as providers assume). It is exact for the simulator's rule plus the per-message 3; OpenAI's tokenizers give English
prose about 1.3 tokens a word, so there the prompt part runs some 10-20 % low. A structured call's schema is left
out (providers differ on counting it). The error lasts only while the call is in flight: `settle` replaces the
estimate with what the provider reports, and a call admitted early meets at worst the provider's own 429, which
pauses the endpoint for every worker.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from activities.errors import retry_after

DEFAULT_MAX_TOKENS = 1024  # what a provider reserves for a chat call that names no bound
_RUN = re.compile(r"\w+|[^\w\s]+")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_SCALE = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_USAGE = re.compile(rb'"(prompt_tokens|completion_tokens)"\s*:\s*(\d+)')


def text_tokens(text: str) -> int:
    """The estimate for one text (see the module docstring)."""
    return sum(1 for _ in _RUN.finditer(text))


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def estimate_tokens(body: Mapping[str, Any]) -> int:
    """Tokens a request will count against a TPM limit: prompt estimate plus its output bound (chat)."""
    if "input" in body:  # embeddings
        items = body["input"] if isinstance(body["input"], list) else [body["input"]]
        return sum(text_tokens(i) if isinstance(i, str) else len(i) for i in items)
    total = 0
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            total += 3 + text_tokens(_content_text(message.get("content")))
            for call in message.get("tool_calls") or []:
                total += text_tokens(json.dumps(call))
    if body.get("tools"):
        total += math.ceil(len(json.dumps(body["tools"])) / 4)
    return total + output_bound(body)


def output_bound(body: Mapping[str, Any]) -> int:
    """The request's own output bound, as a provider reserves it (0 for embeddings)."""
    if "input" in body:
        return 0
    bound = body.get("max_completion_tokens") or body.get("max_tokens")
    return int(bound) if isinstance(bound, int) else DEFAULT_MAX_TOKENS


def counted_tokens(body: Mapping[str, Any], payload: bytes, count_output_bound: bool) -> int | None:
    """Tokens the provider counted for a delivered response: its prompt tokens plus the output bound (as OpenAI
    counts rate limits) or the completion tokens; None when the response carries no usage."""
    found = {name.decode(): int(value) for name, value in _USAGE.findall(payload)}
    if "prompt_tokens" not in found:
        return None
    output = output_bound(body) if count_output_bound else found.get("completion_tokens", 0)
    return found["prompt_tokens"] + output


def provider_pause(headers: Mapping[str, str]) -> float | None:
    """Seconds a 429 asks every caller to wait: Retry-After (-ms), else the longest `x-ratelimit-reset-*`; None."""
    delay = retry_after(headers)
    if delay is not None:
        return delay.total_seconds()
    resets = [_duration(headers.get(h, "")) for h in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens")]
    found = [r for r in resets if r]
    return max(found) if found else None


def _duration(text: str) -> float:
    """`6m0s`, `1.5s`, `20ms` or bare seconds, as seconds (0 when unreadable)."""
    text = text.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    return sum(float(n) * _SCALE[unit] for n, unit in parts) if parts else 0.0
