"""S3 notifications: how fast the gateway answers MAX_RECORDS records (202, every job started) and 1,000 records (413).

The issue's bound is one second for either. A real `genai-flow gateway` on a private stack (Temporal dev server,
Redis) takes ROUNDS notifications of 1, MAX_RECORDS and 1,000 created-object records, each with fresh keys (so every
record starts a workflow); the time is from sending the request to its whole response. Recorded as the slowest
MAX_RECORDS-record answer against the one-second bound (ratio <= 1.0), with the 1- and 1,000-record times beside it.
Run: `python -m bench.bench_s3_events` (about a minute).
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from typing import Any

import httpx

from bench.bench_b3_gateway import KEY, gateway_process
from bench.harness import record
from bench.stack import bench_stack
from runtime.s3events import MAX_RECORDS

ROUNDS = 5
BUCKET = "bench-bulk"
BOUND_MS = 1000.0


def notification(count: int, tag: str) -> dict[str, Any]:
    """One AWS-format notification of `count` created objects under a fresh prefix."""
    record_ = {"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
               "eventTime": "2026-11-25T04:00:00Z"}  # fmt: skip
    return {
        "Records": [
            {**record_, "s3": {"bucket": {"name": BUCKET}, "object": {"key": f"{tag}/doc-{n}.md", "eTag": f"e{n}"}}}
            for n in range(count)
        ]
    }


async def answer_ms(http: httpx.AsyncClient, count: int, status: int) -> float:
    """Milliseconds until a notification of `count` records is answered; it must answer `status`."""
    body = notification(count, uuid.uuid4().hex)
    started = time.perf_counter()
    response = await http.post("/v1/events/s3", json=body)
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == status, (count, response.status_code, response.text[:300])
    return elapsed


async def main() -> None:
    """Measure and record the notification answer times."""
    async with bench_stack("s3events") as stack:
        gateway = gateway_process(stack, stack.settings.task_queue_prefix)
        gateway.env["GENAI_FLOW_ALLOWED_BUCKETS"] = BUCKET
        gateway.start(timeout=90)
        url = f"http://127.0.0.1:{gateway.argv[gateway.argv.index('--port') + 1]}"
        times: dict[int, list[float]] = {1: [], MAX_RECORDS: [], 1000: []}
        try:
            async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=60) as http:
                await answer_ms(http, 1, 202)  # warm-up: connections to Temporal and Redis
                for _ in range(ROUNDS):
                    times[1].append(await answer_ms(http, 1, 202))
                    times[MAX_RECORDS].append(await answer_ms(http, MAX_RECORDS, 202))
                    times[1000].append(await answer_ms(http, 1000, 413))
        finally:
            gateway.stop()
    details = {
        f"{count}_records_ms": {"median": round(statistics.median(ms), 1), "max": round(max(ms), 1)}
        for count, ms in times.items()
    }
    details["rounds"] = ROUNDS
    record(
        "s3_event_answer",
        "<= 1.0",
        BOUND_MS,
        max(times[MAX_RECORDS]),
        f"ms (slowest {MAX_RECORDS}-record 202)",
        details,
    )


if __name__ == "__main__":
    asyncio.run(main())
