"""all-MiniLM-L6-v2 computed in plain numpy from the packaged safetensors: the reference llama-server must match.

The forward pass of a BERT encoder as sentence-transformers runs it: token + position + type embeddings, LayerNorm,
six blocks of (self-attention, residual, LayerNorm, GELU feed-forward, residual, LayerNorm), mean pooling over the
tokens, L2 normalisation. Token ids come from the packaged tokenizer.json through `tokenizers` (Rust, no torch).
"""

from __future__ import annotations

import json
import math
from functools import cached_property
from pathlib import Path

import numpy as np

from launcher.local_models import EMBED_DIR, EMBED_PACKAGE, _package_file

_erf = np.vectorize(math.erf)


def model_dir() -> Path:
    """The packaged sentence-transformers folder of all-MiniLM-L6-v2 (the `local` dependency group)."""
    return _package_file(EMBED_PACKAGE, EMBED_DIR)


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


class MiniLM:
    """The reference encoder: `token_ids(text)` and `embed(text)` (unit vector)."""

    def __init__(self, directory: Path | None = None) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        self.dir = directory or model_dir()
        self.config = json.loads((self.dir / "config.json").read_text())
        self.w = {k: v.astype(np.float64) for k, v in load_file(str(self.dir / "model.safetensors")).items()}
        self.tokenizer = Tokenizer.from_file(str(self.dir / "tokenizer.json"))
        self.tokenizer.no_padding()  # the packaged tokenizer pads to 128 for batched torch use

    @cached_property
    def eps(self) -> float:
        """LayerNorm epsilon."""
        return float(self.config["layer_norm_eps"])

    def token_ids(self, text: str) -> list[int]:
        """[CLS] wordpieces [SEP], as the Hugging Face tokenizer makes them."""
        return list(self.tokenizer.encode(text).ids)

    def _dense(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.w[name + ".weight"].T + self.w[name + ".bias"]

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        return _layer_norm(x, self.w[name + ".weight"], self.w[name + ".bias"], self.eps)

    def _attention(self, x: np.ndarray, prefix: str) -> np.ndarray:
        heads = int(self.config["num_attention_heads"])
        n, width = x.shape
        d = width // heads

        def split(t: np.ndarray) -> np.ndarray:  # (tokens, width) -> (heads, tokens, d)
            return t.reshape(n, heads, d).transpose(1, 0, 2)

        q, k, v = (split(self._dense(x, f"{prefix}attention.self.{m}")) for m in ("query", "key", "value"))
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(d)
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        ctx = (scores / scores.sum(axis=-1, keepdims=True)) @ v
        return self._dense(ctx.transpose(1, 0, 2).reshape(n, width), f"{prefix}attention.output.dense")

    def embed(self, text: str) -> np.ndarray:
        """The sentence embedding of text: mean-pooled last hidden states, L2-normalised."""
        w, ids = self.w, self.token_ids(text)
        x = w["embeddings.word_embeddings.weight"][ids]
        x = x + w["embeddings.position_embeddings.weight"][: len(ids)] + w["embeddings.token_type_embeddings.weight"][0]
        x = self._norm(x, "embeddings.LayerNorm")
        for n in range(int(self.config["num_hidden_layers"])):
            p = f"encoder.layer.{n}."
            x = self._norm(x + self._attention(x, p), f"{p}attention.output.LayerNorm")
            h = self._dense(x, f"{p}intermediate.dense")
            h = 0.5 * h * (1.0 + _erf(h / math.sqrt(2.0)))  # exact GELU, as BERT's "gelu"
            x = self._norm(x + self._dense(h, f"{p}output.dense"), f"{p}output.LayerNorm")
        pooled = x.mean(axis=0)
        return pooled / np.linalg.norm(pooled)
