"""One racer of the cross-process limiter test: `python -m tests.limiter_race REDIS_URL PREFIX RACERS TRIES`.

Waits until every racer is connected (a Redis counter), then reserves TRIES times on endpoint `e` (rpm 150) and
prints how many it was granted.
"""

from __future__ import annotations

import asyncio
import sys

import redis.asyncio

from runtime.limiter import Limiter
from schemas.models_file import Endpoint, RouterOptions


async def race(url: str, prefix: str, racers: int, tries: int) -> int:
    """Grants out of `tries` reservations, started together with the other racers."""
    client = redis.asyncio.Redis.from_url(url, decode_responses=True)
    limiter = Limiter(client, prefix, RouterOptions())
    endpoint = Endpoint(base_url="http://127.0.0.1:1/v1", rpm=150, tpm=100_000)
    await client.incr(f"{prefix}:ready")
    while int(await client.get(f"{prefix}:ready") or 0) < racers:
        await asyncio.sleep(0.01)
    granted = sum([(await limiter.reserve("e", endpoint, 10, 30)).granted for _ in range(tries)])
    await client.aclose()
    return granted


if __name__ == "__main__":
    print(asyncio.run(race(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))
