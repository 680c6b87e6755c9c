"""B3's baseline front door: a synchronous thread-pool HTTP API that holds each request until its job finishes.

`POST /v1/answers` runs in one of THREADS worker threads and blocks on the workflow's result, the way a plain
request/response service does. Run as `python -m bench.sync_gateway PORT` with the stack's environment.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
import uvicorn
from fastapi import FastAPI

from runtime.settings import get_settings
from runtime.temporal import connect
from schemas import queues
from schemas.answer import AnswerRequest

THREADS = 32
RESULT_TIMEOUT_S = 120.0

_loop = asyncio.new_event_loop()
_client: Any = None


def _run_loop() -> None:
    asyncio.set_event_loop(_loop)
    _loop.run_forever()


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    global _client
    anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS
    threading.Thread(target=_run_loop, daemon=True).start()
    _client = asyncio.run_coroutine_threadsafe(connect(get_settings()), _loop).result(30)
    yield


app = FastAPI(lifespan=lifespan)


@app.get("/healthz")
def healthz() -> dict[str, str]:
    """Liveness."""
    return {"status": "ok"}


@app.post("/v1/answers")
def answer(body: AnswerRequest) -> dict[str, Any]:
    """Start the job and wait for its result in this thread (a blocking request/response API)."""
    settings = get_settings()
    run = _client.execute_workflow(
        "AnswerQuestion",
        body.model_copy(update={"step_deadline_s": settings.step_deadline_s}),
        id=f"answer-sync-{uuid.uuid4().hex}",
        task_queue=queues.queue(queues.WORKFLOWS, settings.task_queue_prefix),
    )
    result = asyncio.run_coroutine_threadsafe(run, _loop).result(RESULT_TIMEOUT_S)
    return {"answer": result["answer"] if isinstance(result, dict) else getattr(result, "answer", "")}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
