"""The client side of a model call: the openai SDK's typed responses against activities/model_api.py's lean ones.

Both read the same answers from a private zero-latency simulator, with the same client, in rotated blocks of 20
concurrent calls: a streamed answer (the answer step) and a whole completion with a JSON schema (the structured
steps). The figure is this process's CPU per call (user + system), so the simulator's own work is not in it. Not
part of `make bench`: it backs the model-call figures of docs/benchmarks.md's CPU section.
Run: `python -m bench.wire_cost` (~20 s).
"""

from __future__ import annotations

import asyncio
import resource
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import openai

from activities import model_api
from activities.wire import response_format
from runtime import services
from runtime.processes import free_port
from schemas.answer import Summary

BLOCK = 20
BLOCKS = 10
ROUNDS = 3
MESSAGES = [
    {"role": "system", "content": "Answer from the context and cite the chunk ids. " * 12},
    {"role": "user", "content": "Who commissioned the Zephyr reactor, and where?"},
]


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _params(stream: bool) -> dict[str, Any]:
    """The answer step's params when streamed, a structured step's (its JSON schema included) when not."""
    params: dict[str, Any] = {"model": "sim", "messages": MESSAGES, "extra_headers": {"Idempotency-Key": "wire"}}
    if stream:
        return {**params, "stream_options": {"include_usage": True}}
    return {**params, "response_format": response_format("summary", Summary)}


async def sdk_stream(llm: openai.AsyncOpenAI) -> str:
    """The answer step as it was: the SDK's typed chunks."""
    stream = await llm.chat.completions.create(**_params(True), stream=True)
    async with stream:
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])


async def lean_stream(llm: openai.AsyncOpenAI) -> str:
    """The answer step now: model_api's chunks."""
    async with model_api.stream(llm, _params(True)) as chunks:
        return "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])


async def sdk_whole(llm: openai.AsyncOpenAI) -> str:
    """A structured step as it was: the SDK's typed completion."""
    reply = await llm.chat.completions.create(**_params(False), stream=False)
    return reply.choices[0].message.content or ""


async def lean_whole(llm: openai.AsyncOpenAI) -> str:
    """A structured step now: model_api's completion."""
    reply = await model_api.complete(llm, _params(False))
    return reply.choices[0].message.content or ""


async def cpu_ms_per_call(llm: openai.AsyncOpenAI, call: Callable[[openai.AsyncOpenAI], Awaitable[str]]) -> float:
    """This process's CPU ms per call over BLOCKS blocks of BLOCK concurrent calls (after one warm-up block)."""
    await asyncio.gather(*(call(llm) for _ in range(BLOCK)))
    before = _cpu()
    for _ in range(BLOCKS):
        replies = await asyncio.gather(*(call(llm) for _ in range(BLOCK)))
        assert all(replies), f"{call.__name__}: an empty reply"
    return (_cpu() - before) * 1000 / (BLOCK * BLOCKS)


async def main() -> None:
    """Measure the four calls round by round and print the median CPU per call of each."""
    port = free_port()
    sim = services.simulator(Path(tempfile.mkdtemp(prefix="bench-wire-")), port)
    sim.start(timeout=60)
    try:
        llm = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="bench", max_retries=0)
        calls = (sdk_stream, lean_stream, sdk_whole, lean_whole)
        samples: dict[str, list[float]] = {c.__name__: [] for c in calls}
        for _ in range(ROUNDS):
            for call in calls:
                samples[call.__name__].append(await cpu_ms_per_call(llm, call))
        await llm.close()
    finally:
        sim.stop()
    for name, values in samples.items():
        print(f"{name}: {sorted(values)[len(values) // 2]:.2f} ms CPU per call (rounds: {values})")


if __name__ == "__main__":
    asyncio.run(main())
