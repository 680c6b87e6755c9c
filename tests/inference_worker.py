"""The inference activities alone on one task queue, as a process of its own, so a fault point can kill it.

Run as `python -m tests.inference_worker QUEUE`; settings come from the environment (GENAI_FLOW_FAULT_POINT too).
Prints `ready` once polling.
"""

from __future__ import annotations

import asyncio
import sys

from temporalio.worker import Worker

from activities.inference import InferenceActivities
from activities.llm import make_llm
from runtime.redis import redis_client
from runtime.settings import load_settings
from runtime.temporal import connect


async def serve(queue: str) -> None:
    """Serve chat/structured/embed on `queue` until killed."""
    settings = load_settings()
    client = await connect(settings)
    acts = InferenceActivities(make_llm(settings), redis_client(settings), settings)
    async with Worker(client, task_queue=queue, activities=[acts.chat, acts.structured, acts.embed]):
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1]))
