"""Large synthetic documents for ingestion tests and benchmarks (deterministic given a seed)."""

from __future__ import annotations

import random
from pathlib import Path

WORDS = ("reactor", "orchard", "comet", "coolant", "harvest", "telescope", "lighthouse", "keeper", "salt", "pears")
CHARS_PER_PAGE = 3000  # a printed page of prose: how B5 turns characters into pages


def write_large_text(path: Path, megabytes: float, seed: int = 7) -> Path:
    """Paragraphs of pseudo-random sentences (varied words, so embeddings differ), `megabytes` (10^6 bytes) long."""
    rng = random.Random(seed)
    target = int(megabytes * 1_000_000)
    with path.open("w") as out:
        written = 0
        while written < target:
            sentences = [" ".join(rng.choices(WORDS, k=rng.randint(6, 14))).capitalize() + "." for _ in range(5)]
            written += out.write(f"Section {written // 1000}. " + " ".join(sentences) + "\n\n")
    return path
