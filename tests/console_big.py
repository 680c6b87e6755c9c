"""A stand-in run whose result is big (1.5 MB), so the console's job page can be timed with a large payload.

It is started with the search attributes of an answer job of a given owner, so the console lists and shows it like
any other; no model runs.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

BIG_CHARS = 1_500_000


@workflow.defn(name="ConsoleBigResult")
class BigResult:
    """Returns an answer-shaped result with a 1.5 MB answer and many citations."""

    @workflow.run
    async def run(self, question: str) -> dict[str, Any]:
        line = "The lighthouse keeper logged every ship that passed the point. "
        answer = (line * (BIG_CHARS // len(line) + 1))[:BIG_CHARS]
        citations = [{"chunk_id": f"big.md@v#{n}", "source": "big.md", "quote": line} for n in range(300)]
        usage = {"model": "sim-chat", "prompt_tokens": 10, "completion_tokens": 20, "billed_tokens": 30}
        return {"question": question, "answer": answer, "citations": citations, "usage": usage, "cost_usd": 0.0}
