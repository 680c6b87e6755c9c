"""A gateway whose Redis hangs answers fast: POSTs skip the rate limit, new event streams get 503, open ones close."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.conftest import GatewayUnderTest
from tests.private_redis import hung, private_redis_server, redis_url
from tests.sse import events


async def test_a_hung_redis_costs_the_gateway_no_more_than_a_second(
    gateway_factory: Callable[..., GatewayUnderTest], tmp_path: Path
) -> None:
    with private_redis_server(tmp_path) as redis_proc:
        gw = gateway_factory(REDIS_URL=redis_url(redis_proc), GENAI_FLOW_RATE_LIMIT="100/10s")
        async with httpx.AsyncClient(base_url=gw.url, headers=gw.auth(), timeout=30) as http:
            started = await http.post("/v1/answers", json={"question": "Who keeps the logs?"})
            assert started.status_code == 202, started.text  # no worker: the job stays queued, its stream open
            job = started.json()["job_id"]
            seen: list[str] = []
            async with http.stream("GET", f"/v1/jobs/{job}/events") as stream:
                with hung(redis_proc):
                    began = time.monotonic()
                    # An open stream ends with a clean close (a comment saying why), not a dropped connection.
                    async for item in events(stream):
                        seen.append(item.comment or item.event or "")
                    closed_after = time.monotonic() - began
                    began = time.monotonic()
                    post = await http.post("/v1/answers", json={"question": "And during the stall?"})
                    post_s = time.monotonic() - began
                    began = time.monotonic()
                    refused = await http.get(f"/v1/jobs/{job}/events")
                    refused_s = time.monotonic() - began
    assert any("redis did not answer" in text for text in seen), seen
    assert closed_after < 1 + 2 + 2  # the read's block (keep-alive 1 s) plus the grace, with room for a busy CI
    assert post.status_code == 202 and post_s < 1.5, (post.status_code, post_s)
    assert refused.status_code == 503 and refused.headers["content-type"].startswith("application/problem+json")
    assert "Redis" in refused.json()["detail"] and refused.headers["Retry-After"] == "2"
    assert refused_s < 2.0  # the rate limit and the PING, 0.5 s each at most
