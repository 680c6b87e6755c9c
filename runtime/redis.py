"""The Redis client used by activities, the gateway and the stack launcher."""

from __future__ import annotations

import redis
import redis.asyncio

from runtime.settings import Settings

# redis-py 8's asyncio pool holds 100 connections and fails the 101st command at once ("Too many connections"): a
# worker with 2,000 model calls in flight (each renewing its lease, publishing events) lost leases to it in B4.
# A blocking pool makes a command wait for a free connection instead, within the command's own bound.
MAX_CONNECTIONS = 256
POOL_WAIT_S = 2.0


def redis_client(settings: Settings) -> redis.asyncio.Redis:
    """An asyncio Redis client for REDIS_URL; strings in and out (decode_responses=True)."""
    pool = redis.asyncio.BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=MAX_CONNECTIONS,
        timeout=POOL_WAIT_S,
        decode_responses=True,
        socket_connect_timeout=2,
        # A Redis that stops answering must fail calls fast (steps then wait, requests get a clear status), not
        # hang them. Longer than any blocking read we issue (XREAD BLOCK of 1 s in the CLI's event follower).
        socket_timeout=2.5,
        # Idle pooled connections are checked before use, so a restarted Redis does not fail the next call.
        health_check_interval=30,
    )
    return redis.asyncio.Redis.from_pool(pool)  # the client owns the pool: aclose() closes it


def redis_answers(url: str, timeout: float = 1.0) -> bool:
    """True when a Redis server answers PING at url (used to reuse a running Redis)."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError):
        return False
