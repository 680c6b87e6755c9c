"""The simulator's token rule, deterministic and download-free.

Rule: one token per run of word characters (letters, digits, underscore) and one per run of other
non-space characters (punctuation, symbols). Whitespace is free. So `Hello, world!` is 4 tokens
(`Hello`, `,`, `world`, `!`) and `e-mail` is 3. Usage counts:

- prompt_tokens: the tokens of every message's text (markers stripped), plus the name and JSON
  arguments of any tool calls in the messages; chat prompts count at least 1.
- completion_tokens: the tokens of the returned content, or of each tool call's name and arguments.
- embeddings: prompt_tokens is the tokens of every input (markers stripped); completion_tokens is 0.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"\w+|[^\w\s]+")
# A streamed piece is a token with the whitespace before it, so the pieces concatenate to the text.
_PIECE = re.compile(r"\s*(?:\w+|[^\w\s]+)|\s+$")


def count_tokens(text: str) -> int:
    """Number of tokens in text under the rule above."""
    return sum(1 for _ in _TOKEN.finditer(text))


def pieces(text: str) -> list[str]:
    """Text split into one piece per token (leading whitespace attached); joining them gives text back."""
    return [m.group(0) for m in _PIECE.finditer(text)]


def truncate_tokens(text: str, limit: int) -> str:
    """The first `limit` tokens of text, as a prefix of it."""
    if limit <= 0:
        return ""
    parts = pieces(text)
    kept: list[str] = []
    count = 0
    for part in parts:
        if part.strip():
            if count == limit:
                break
            count += 1
        kept.append(part)
    return "".join(kept).rstrip() if count == limit else "".join(kept)
