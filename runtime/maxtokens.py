"""Output bounds per step (GENAI_FLOW_MAX_TOKENS): parsed here, read through `Settings.max_tokens_for`."""

from __future__ import annotations

import re

# Every chat or structured call sends a bound, so a model that loops ends at it instead of at the inference
# timeout. `default` covers steps not listed (an agent's turns, ingestion's calls). Embeddings take no bound.
DEFAULT_STEP = "default"
# About twice the longest reply measured over the project's own docs (127 chunks, windows of 4, the simulator):
# summary 991 tokens (extracts of markdown tables run long), entities 539, answer 281. A loop still ends in seconds.
DEFAULT_MAX_TOKENS: dict[str, int] = {
    DEFAULT_STEP: 1024,
    "summarize": 2048,  # a summary and key points of the retrieved chunks
    "extract_entities": 2048,  # a list of short objects, each with its evidence chunk id
    "generate_answer": 1024,  # a cited answer of a few paragraphs (text cut at the bound is kept, not retried)
}
MAX_TOKENS_CEILING = 1_000_000
_STEP_NAME = re.compile(r"^[A-Za-z0-9_.:/-]+$")


def parse_max_tokens(text: str) -> dict[str, int]:
    """`summarize=256,default=2048` as {step: N}, on top of DEFAULT_MAX_TOKENS; ValueError says which item is bad."""
    limits = dict(DEFAULT_MAX_TOKENS)
    for item in filter(None, (part.strip() for part in text.split(","))):
        step, sep, value = (p.strip() for p in item.partition("="))
        if not sep or not _STEP_NAME.match(step):
            raise ValueError(f"bad item {item!r}: use STEP=N (e.g. extract_entities=512, default=1024)")
        if not value.isdigit() or not 1 <= int(value) <= MAX_TOKENS_CEILING:
            raise ValueError(f"bad limit {value!r} for {step}: a whole number from 1 to {MAX_TOKENS_CEILING}")
        limits[step] = int(value)
    return limits
