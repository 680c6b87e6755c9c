"""B1 with encryption: AnswerQuestion latency with GENAI_FLOW_ENCRYPTION_KEYS set / the same without (target <= 1.10).

One private stack (bench/stack.py), two sets of in-process workers on two queue prefixes: one plain, one whose
client and workers encrypt every payload (runtime/codec.py) and every value at rest (runtime/at_rest.py: stored
step results, token events, cache). Runs alternate between the sides; p50 is recorded, p95 in the details.
Run: `python -m bench.bench_b1_encryption [ROUNDS]` (~1 min at the default 30 rounds).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import os
import sys
import uuid

from bench.harness import interleaved, percentile, record
from bench.stack import QUESTIONS, BenchStack, bench_stack, in_process_workers

ROUNDS = 30
WARMUP = 3


class Side:
    """Starts AnswerQuestion runs through one client (plain or encrypting) and waits for each result."""

    def __init__(self, stack: BenchStack, flow: object) -> None:
        self.stack = stack
        self.flow = flow
        self.questions = itertools.cycle(QUESTIONS)

    async def answer(self) -> None:
        """One run, start → result."""
        from schemas.answer import AnswerRequest
        from schemas.jobs import Pipeline
        from starter.client import GenAIFlowClient

        assert isinstance(self.flow, GenAIFlowClient)
        req = AnswerRequest(question=next(self.questions), collection=self.stack.collection)
        started = await self.flow.start(Pipeline.ANSWER, req)
        info = await self.flow.wait(started.job_id)
        if not (info.result or {}).get("answer"):
            raise RuntimeError(f"{started.job_id}: no answer ({info.status})")


async def main(rounds: int = ROUNDS) -> None:
    """Start the stack and both sets of workers, time interleaved runs, record the ratio."""
    from runtime.temporal import connect
    from starter.client import GenAIFlowClient

    key = f"bench:{base64.b64encode(os.urandom(32)).decode()}"
    async with bench_stack("b1-encryption") as stack:
        sealed = stack.settings.model_copy(
            update={"encryption_keys": [key], "task_queue_prefix": f"e{uuid.uuid4().hex[:8]}-"}
        )
        sealed_client = await connect(sealed)
        async with in_process_workers(stack.client, stack.settings), in_process_workers(sealed_client, sealed):
            plain_side = Side(stack, GenAIFlowClient(stack.client, stack.settings))
            sealed_side = Side(stack, GenAIFlowClient(sealed_client, sealed))
            plain, encrypted = await interleaved([plain_side.answer, sealed_side.answer], rounds, WARMUP)
    details = {
        "rounds": rounds,
        "warmup": WARMUP,
        "simulator": "zero latency",
        "baseline": "the same AnswerQuestion runs without GENAI_FLOW_ENCRYPTION_KEYS",
        "plain_ms_p95": round(percentile(plain, 95) * 1000, 2),
        "encrypted_ms_p95": round(percentile(encrypted, 95) * 1000, 2),
    }
    record(
        "b1_encryption_overhead",
        "<= 1.10",
        percentile(plain, 50) * 1000,
        percentile(encrypted, 50) * 1000,
        "ms",
        details,
    )


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else ROUNDS))
