"""Each worker reports its slot use to Redis every few seconds, so `stats` shows utilisation without Prometheus.

The numbers are the SDK's own `temporal_worker_task_slots_used` / `_available` gauges, read from this process's
metrics endpoint (parsed by prometheus-client), and written to `<prefix>:workers:<pid@host>` as fields
`<task_queue>|<worker_type>` = `<used>/<available>`, with a TTL of a few intervals: a worker that stops (or
dies) drops out of `stats` by itself.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

import httpx
import redis.asyncio
from prometheus_client.parser import text_string_to_metric_families

from runtime.keys import RedisKeys
from runtime.logging import get_logger

log = get_logger(__name__)

REPORT_INTERVAL_S = 5.0
SLOT_METRICS = {"temporal_worker_task_slots_used": 0, "temporal_worker_task_slots_available": 1}


def worker_identity() -> str:
    """`pid@host`, the SDK's default worker identity."""
    return f"{os.getpid()}@{socket.gethostname()}"


def slot_use(metrics_text: str) -> dict[str, str]:
    """`<task_queue>|<worker_type>` -> `<used>/<available>` from a Prometheus exposition of the SDK's gauges."""
    pairs: dict[str, list[int]] = {}
    # The exposition holds every histogram of the process (hundreds of series): parsing all of it every interval
    # cost ~4 % of a busy worker's CPU in B2, so only the two gauges' lines reach the parser.
    wanted = "\n".join(line for line in metrics_text.splitlines() if _slot_line(line))
    for family in text_string_to_metric_families(wanted):
        index = SLOT_METRICS.get(family.name)
        if index is None:
            continue
        for sample in family.samples:
            field = f"{sample.labels.get('task_queue', '')}|{sample.labels.get('worker_type', '')}"
            pairs.setdefault(field, [0, 0])[index] = int(sample.value)
    return {field: f"{used}/{available}" for field, (used, available) in pairs.items()}


def _slot_line(line: str) -> bool:
    """A sample, HELP or TYPE line of one of SLOT_METRICS."""
    name = line.removeprefix("# HELP ").removeprefix("# TYPE ").split("{", 1)[0].split(" ", 1)[0]
    return name in SLOT_METRICS


async def report_slots(metrics_url: str, redis_client: redis.asyncio.Redis, keys: RedisKeys) -> None:
    """Report this worker's slot use until cancelled; failures are logged and retried next interval."""
    key = keys.worker_slots(worker_identity())
    async with httpx.AsyncClient(timeout=REPORT_INTERVAL_S) as http:
        while True:
            try:
                response = await http.get(metrics_url)
                response.raise_for_status()
                fields: dict[Any, Any] = slot_use(response.text)  # redis' mapping type is invariant in its key
                if fields:
                    pipe = redis_client.pipeline(transaction=False)
                    pipe.delete(key)
                    pipe.hset(key, mapping=fields)
                    pipe.expire(key, int(REPORT_INTERVAL_S * 3))
                    await pipe.execute()
            except (httpx.HTTPError, redis.RedisError, OSError) as err:
                log.warning("slot use not reported", error=str(err))
            await asyncio.sleep(REPORT_INTERVAL_S)
