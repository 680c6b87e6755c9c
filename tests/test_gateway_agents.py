"""Agents through the gateway: start, pending approvals per key, approve/reject with the approver's key id, 409/504."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest_asyncio
from temporalio.client import Client

from gateway.auth import key_id
from tests.conftest import GatewayUnderTest
from tests.helpers import running_workers
from tests.sse import collect


@pytest_asyncio.fixture
async def http(gateway: GatewayUnderTest) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.url, headers=gateway.auth(), timeout=60) as client:
        yield client


async def until(http: httpx.AsyncClient, job: str, *statuses: str, timeout: float = 90) -> dict[str, Any]:
    async def poll() -> dict[str, Any]:
        while True:
            info: dict[str, Any] = (await http.get(f"/v1/jobs/{job}")).json()
            if info["status"] in statuses:
                return info
            await asyncio.sleep(0.2)

    return await asyncio.wait_for(poll(), timeout)


async def test_agent_pauses_is_listed_approved_then_rejected_over_http(
    http: httpx.AsyncClient, gateway: GatewayUnderTest, unique: str
) -> None:
    started = await http.post("/v1/agents", json={"task": f"Research [[sim:toolloop#{unique}]]", "max_depth": 2})
    assert started.status_code == 202, started.text
    job = started.json()["job_id"]
    assert job.startswith("agent-")
    await until(http, job, "awaiting_approval")

    pending = (await http.get("/v1/approvals")).json()
    row = next(p for p in pending if p["job_id"] == job)
    assert row["reason"] == "depth" and row["depth"] == 2 and row["owner"] == key_id(gateway.keys[0])
    assert row["tokens_used"] > 0 and row["cost_usd"] > 0  # its two model calls so far, priced
    other = await http.get("/v1/approvals", headers=gateway.auth(gateway.keys[1]))
    assert job not in {p["job_id"] for p in other.json()}

    url = f"/v1/jobs/{job}/approval"
    for body, status in [
        ({"decision": "approve"}, 403),  # key B may not decide key A's job
        ({"decision": "maybe"}, 422),
        ({"decision": "approve", "extend_depth": 0}, 422),
        ({"decision": "reject", "extend_depth": 2}, 422),
        ({"decision": "approve", "reason": "why"}, 422),
    ]:
        headers = gateway.auth(gateway.keys[1]) if status == 403 else {}
        response = await http.post(url, json=body, headers=headers)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"

    approved = await http.post(url, json={"decision": "approve", "extend_depth": 1, "note": "one more"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["max_depth"] == 3
    await until(http, job, "running", "awaiting_approval")
    await until(http, job, "awaiting_approval")
    rejected = await http.post(url, json={"decision": "reject", "reason": "enough"})
    assert rejected.status_code == 200, rejected.text
    info = await until(http, job, "completed")
    assert info["outcome"] == "rejected"
    approvals = info["result"]["approvals"]
    assert [(a["decision"], a["approver"]) for a in approvals] == [
        ("approve", key_id(gateway.keys[0])),
        ("reject", key_id(gateway.keys[0])),
    ]
    closed = await http.post(url, json={"decision": "approve"})
    assert closed.status_code == 409 and "not awaiting approval" in closed.json()["detail"]

    events, _ = await collect(http, f"/v1/jobs/{job}/events")
    kinds = [e.event for e in events]
    assert kinds.count("awaiting_approval") == 2 and "approved" in kinds and "rejected" in kinds
    assert kinds[-1] == "job.completed"


async def test_approval_of_a_non_agent_or_unknown_job(http: httpx.AsyncClient, gateway: GatewayUnderTest) -> None:
    answer = await http.post("/v1/answers", json={"question": "q", "collection": gateway.collection})
    response = await http.post(f"/v1/jobs/{answer.json()['job_id']}/approval", json={"decision": "approve"})
    assert response.status_code == 409 and "not an agent" in response.json()["detail"]
    missing = await http.post("/v1/jobs/agent-nope/approval", json={"decision": "approve"})
    assert missing.status_code == 404


async def test_no_worker_to_take_the_decision_is_504(
    gateway_factory: Callable[..., GatewayUnderTest], client: Client, unique: str
) -> None:
    gw = gateway_factory()
    async with httpx.AsyncClient(base_url=gw.url, headers=gw.auth(), timeout=60) as http:
        async with running_workers(client, gw.settings):
            started = await http.post("/v1/agents", json={"task": f"Dig [[sim:toolloop#{unique}]]", "max_depth": 1})
            job = started.json()["job_id"]
            await until(http, job, "awaiting_approval")
        # The workers are gone: nothing can take the update, and nothing is decided.
        response = await http.post(f"/v1/jobs/{job}/approval", json={"decision": "approve"})
        assert response.status_code == 504, response.text
        assert "no worker" in response.json()["detail"]
        assert (await http.get(f"/v1/jobs/{job}")).json()["status"] == "awaiting_approval"
        await client.get_workflow_handle(job).terminate(reason="test over")
