"""all-MiniLM-L6-v2 served by llama-server from our own GGUF conversion equals the model computed in numpy."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from openai import AsyncOpenAI

from tests_real.minilm_reference import MiniLM

SENTENCES = [
    "The Zephyr reactor was commissioned in 1987 by Dr. Amelia Hartwell in Lisbon.",
    "Comet Veyra returns every 71 years; its tail is mostly ionised carbon monoxide.",
    "Café owners in São Paulo can't stop talking about the naïve résumé!",
    "ThisIsAnUnusuallyLongCompoundWordThatWordPieceMustSplit into pieces, 3.14159 and #hashtags.",
    "Harvest starts in late September.",
]


@pytest.fixture(scope="module")
def reference() -> MiniLM:
    return MiniLM()


async def test_tokenization_matches_the_packaged_wordpiece_tokenizer(
    servers: dict[str, str], reference: MiniLM
) -> None:
    async with httpx.AsyncClient(base_url=servers["embed_url"], timeout=60) as http:
        for text in SENTENCES:
            response = await http.post("/tokenize", json={"content": text, "add_special": True})
            response.raise_for_status()
            assert response.json()["tokens"] == reference.token_ids(text), text


async def test_server_embeddings_equal_the_numpy_reference(real_embed: AsyncOpenAI, reference: MiniLM) -> None:
    response = await real_embed.embeddings.create(model="all-minilm-l6-v2", input=SENTENCES)
    assert [d.index for d in response.data] == list(range(len(SENTENCES)))
    for text, item in zip(SENTENCES, response.data, strict=True):
        served = np.asarray(item.embedding)
        assert served.shape == (384,)
        assert np.linalg.norm(served) == pytest.approx(1.0, abs=1e-3)  # normalised, as sentence-transformers does
        cosine = float(served @ reference.embed(text))
        # float32 weights, llama.cpp's tanh-GELU: the same vector up to rounding.
        assert cosine > 0.999, (text, cosine)


async def test_related_sentences_are_closer_than_unrelated_ones(real_embed: AsyncOpenAI) -> None:
    texts = [
        "Who commissioned the Zephyr reactor?",
        "The Zephyr reactor was commissioned in 1987 by Dr. Amelia Hartwell.",
        "Harvest at the Harlow orchard starts in late September.",
    ]
    response = await real_embed.embeddings.create(model="all-minilm-l6-v2", input=texts)
    q, fact, other = (np.asarray(d.embedding) for d in response.data)
    assert float(q @ fact) > 0.5
    assert float(q @ fact) > float(q @ other) + 0.3
