"""The gateway end to end on a real uvicorn: 202 at once, SSE progress, resume with Last-Event-ID, silent ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio

from schemas.jobs import JobStatus
from starter.client import GenAIFlowClient
from tests.conftest import GatewayUnderTest
from tests.sse import collect

TERMINAL = {"job.completed", "job.failed", "job.dead_lettered"}


@pytest_asyncio.fixture
async def http(gateway: GatewayUnderTest) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.url, headers=gateway.auth(), timeout=60) as client:
        yield client


async def test_submit_answers_202_and_streams_steps_tokens_and_the_result(
    gateway: GatewayUnderTest, http: httpx.AsyncClient
) -> None:
    response = await http.post(
        "/v1/answers", json={"question": "Who commissioned the Zephyr reactor?", "collection": gateway.collection}
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert response.headers["location"] == body["status_url"] == f"{gateway.url}/v1/jobs/{body['job_id']}"
    assert body["events_url"].startswith(f"{body['status_url']}/events?token=")

    events, _ = await asyncio.wait_for(collect(http, f"/v1/jobs/{body['job_id']}/events"), 90)
    kinds = [e.event for e in events]
    assert "step.started" in kinds and "step.completed" in kinds and "token" in kinds
    assert kinds[-1] == "job.completed" and kinds.count("job.completed") == 1
    final = events[-1].data["data"]
    assert final["status"] == "completed"
    text = "".join(e.data["data"]["delta"] for e in events if e.event == "token")
    assert text == final["result"]["answer"] and "Amelia Hartwell" in text
    assert all(e.id for e in events)  # every relayed event carries its stream id for Last-Event-ID

    # The signed events URL works without any header (a browser's EventSource cannot send one).
    async with httpx.AsyncClient(timeout=60) as anonymous:
        again, _ = await collect(anonymous, body["events_url"])
    assert [e.id for e in again] == [e.id for e in events]


async def test_last_event_id_resumes_without_duplicates_or_gaps(
    gateway: GatewayUnderTest, http: httpx.AsyncClient
) -> None:
    response = await http.post(
        "/v1/answers", json={"question": "How often does Comet Veyra return?", "collection": gateway.collection}
    )
    job = response.json()["job_id"]
    url = f"/v1/jobs/{job}/events"
    first, _ = await collect(http, url, stop_after=3)  # a client that drops after three events
    rest, _ = await asyncio.wait_for(collect(http, url, headers={"Last-Event-ID": first[-1].id or ""}), 90)
    full, _ = await collect(http, url)
    assert [e.id for e in first + rest] == [e.id for e in full]
    assert rest[-1].event == "job.completed"
    assert "snapshot" not in [e.event for e in rest]


async def test_a_trimmed_last_event_id_gets_a_snapshot_first(
    gateway: GatewayUnderTest, http: httpx.AsyncClient
) -> None:
    response = await http.post(
        "/v1/answers", json={"question": "When is the Harlow orchard harvest?", "collection": gateway.collection}
    )
    job = response.json()["job_id"]
    full, _ = await asyncio.wait_for(collect(http, f"/v1/jobs/{job}/events"), 90)
    # Trim the stream's first entries away, as MAXLEN does on a long job.
    from runtime.keys import RedisKeys
    from runtime.redis import redis_client

    redis = redis_client(gateway.settings)
    try:
        await redis.xtrim(RedisKeys.of(gateway.settings).events(job), minid=full[3].id, approximate=False)
    finally:
        await redis.aclose()
    resumed, _ = await collect(http, f"/v1/jobs/{job}/events", headers={"Last-Event-ID": full[0].id or ""})
    assert resumed[0].event == "snapshot" and resumed[0].data["data"]["job"]["status"] == "completed"
    assert [e.id for e in resumed[1:]] == [e.id for e in full[3:]]


async def test_a_terminated_run_still_ends_its_stream(
    gateway: GatewayUnderTest, http: httpx.AsyncClient, client
) -> None:
    # A question that waits 30 s at the model: the test terminates the run long before it would finish.
    response = await http.post(
        "/v1/answers", json={"question": "Slow one [[sim:latency=30s]]", "collection": gateway.collection}
    )
    job = response.json()["job_id"]
    flow = GenAIFlowClient(client, gateway.settings)

    async def terminate_soon() -> None:
        await asyncio.sleep(1.5)
        await flow.handle(job).terminate(reason="operator stop")

    terminator = asyncio.create_task(terminate_soon())
    events, comments = await asyncio.wait_for(collect(http, f"/v1/jobs/{job}/events"), 60)
    await terminator
    assert events[-1].event == "job.failed"
    assert events[-1].data["data"]["synthesized"] is True
    assert events[-1].data["data"]["error"]["kind"] == "terminated"
    assert comments >= 1  # keep-alives flowed while the run was quiet
    # A stream opened after the end closes at once with the same synthesized event.
    late, _ = await asyncio.wait_for(collect(http, f"/v1/jobs/{job}/events"), 10)
    assert late[-1].event == "job.failed"
    assert (await flow.status(job)).status is JobStatus.FAILED
