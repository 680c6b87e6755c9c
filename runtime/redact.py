"""What log lines must not carry: prompt and answer text (unless GENAI_FLOW_LOG_TEXT=true) and secrets (never).

Redaction is by field name, at any depth of a log line's values, plus a scrub of credential-shaped substrings
(`Bearer …`, `sk-…`) in every string, so a key echoed inside an error message is not written either.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import Any

# Fields that hold user or model text: prompts, questions, answers, streamed deltas, documents, tool payloads.
TEXT_FIELDS = frozenset(
    {
        "prompt",
        "prompts",
        "messages",
        "question",
        "answer",
        "content",
        "text",
        "texts",
        "delta",
        "completion",
        "document",
        "chunks",
        "query",
        "task",
        "input",
        "output",
        "arguments",
    }
)
# Field names that hold credentials, matched as substrings of the lower-cased name.
SECRET_PARTS = ("api_key", "apikey", "authorization", "password", "secret", "cookie", "encryption_key", "private_key")
_CREDENTIAL = re.compile(r"(?i)(bearer\s+)[^\s\"',]+|\bsk-[A-Za-z0-9_-]{16,}")


def _is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(part in lowered for part in SECRET_PARTS)


def _placeholder(value: Any) -> str:
    return f"[redacted {len(value)} chars]" if isinstance(value, str) else "[redacted]"


def scrub(text: str) -> str:
    """The text with credential-shaped substrings replaced."""
    return _CREDENTIAL.sub(lambda m: f"{m.group(1) or ''}[redacted]", text)


def redact(value: Any, keep_text: bool, depth: int = 0) -> Any:
    """A copy of value with text fields (unless keep_text) and secret fields replaced, strings scrubbed."""
    if depth > 8:  # log values are shallow; this only guards against cycles
        return value
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            name = str(key)
            if _is_secret(name) or (not keep_text and name.lower() in TEXT_FIELDS):
                out[key] = _placeholder(item)
            else:
                out[key] = redact(item, keep_text, depth + 1)
        return out
    if isinstance(value, list):
        return [redact(item, keep_text, depth + 1) for item in value]
    if isinstance(value, tuple):  # e.g. exc_info: kept a tuple, so renderers still recognise it
        return tuple(redact(item, keep_text, depth + 1) for item in value)
    return value


class Redactor:
    """A structlog processor applying `redact` to every field of an event (the `event` message is scrubbed only)."""

    def __init__(self, keep_text: bool) -> None:
        self.keep_text = keep_text

    def __call__(self, _logger: Any, _method: str, event: MutableMapping[str, Any]) -> Mapping[str, Any]:
        """Redact one event dict."""
        redacted: dict[str, Any] = redact(event, self.keep_text)
        return redacted
