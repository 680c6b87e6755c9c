"""The gateway's contract on a real uvicorn: auth, ownership, idempotency, limits, errors, lists, operations."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import pytest_asyncio

from gateway.auth import key_id
from tests.conftest import GatewayUnderTest


@pytest_asyncio.fixture
async def http(gateway: GatewayUnderTest) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=60) as client:
        yield client


async def wait_closed(http: httpx.AsyncClient, gateway: GatewayUnderTest, job_id: str) -> dict[str, Any]:
    for _ in range(300):
        info = (await http.get(f"/v1/jobs/{job_id}", headers=gateway.auth())).json()
        if info["status"] in ("completed", "failed", "dead_lettered"):
            return info
        await asyncio.sleep(0.2)
    raise AssertionError(f"{job_id} did not close")


@pytest_asyncio.fixture(scope="module")
async def done_job(gateway: GatewayUnderTest) -> AsyncIterator[str]:
    """A completed job of the first key (one for the whole module)."""
    async with httpx.AsyncClient(base_url=gateway.url, timeout=60) as http:
        response = await http.post(
            "/v1/answers",
            json={"question": "Where was the Zephyr reactor commissioned?", "collection": gateway.collection},
            headers=gateway.auth(),
        )
        job_id: str = response.json()["job_id"]
        assert (await wait_closed(http, gateway, job_id))["status"] == "completed"
    yield job_id


@dataclass
class Case:
    """One request and the status (and problem detail fragment) it must get."""

    name: str
    method: str
    path: str  # `{job}` is replaced by the completed job of key A
    status: int
    key: str | None = "a"  # "a", "b", "unknown", or None for no Authorization header
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    detail: str = ""


CASES = [
    Case("no key", "GET", "/v1/jobs", 401, key=None, detail="API key"),
    Case("unknown key", "GET", "/v1/jobs", 401, key="unknown"),
    Case("unknown key posting", "POST", "/v1/answers", 401, key="unknown", body={"question": "q"}),
    Case(
        "basic auth with a wrong password",
        "GET",
        "/v1/jobs",
        401,
        key=None,
        headers={"Authorization": "Basic dXNlcjp3cm9uZw=="},
    ),
    Case("other key reads", "GET", "/v1/jobs/{job}", 403, key="b", detail="another API key"),
    Case("other key cancels", "DELETE", "/v1/jobs/{job}", 403, key="b"),
    Case("other key streams", "GET", "/v1/jobs/{job}/events", 403, key="b"),
    Case("forged events token", "GET", "/v1/jobs/{job}/events?token=abc.999999999999.xyz", 401, key=None),
    Case("unknown job", "GET", "/v1/jobs/answer-nope", 404, detail="no job"),
    Case("unknown job cancel", "DELETE", "/v1/jobs/answer-nope", 404),
    Case("unknown job events", "GET", "/v1/jobs/answer-nope/events", 404),
    Case("cancel a closed job", "DELETE", "/v1/jobs/{job}", 409, detail="already completed"),
    Case("empty question", "POST", "/v1/answers", 422, body={"question": ""}, detail="question"),
    Case("top_k out of range", "POST", "/v1/answers", 422, body={"question": "q", "top_k": 0}),
    Case(
        "whitespace question",
        "POST",
        "/v1/answers",
        422,
        body={"question": " \t\n "},
        detail="question: must contain text, not only whitespace",
    ),
    Case("whitespace task", "POST", "/v1/agents", 422, body={"task": "   "}, detail="not only whitespace"),
    Case(
        "not json",
        "POST",
        "/v1/answers",
        422,
        body=b'{"question": "q",\n "top_k": 4,,}',
        headers={"Content-Type": "application/json"},
        detail="not valid JSON: Expecting property name enclosed in double quotes at line 2, column 13 (near",
    ),
    Case("bad status filter", "GET", "/v1/jobs?status=sleeping", 422),
    Case("bad page token", "GET", "/v1/jobs?page_token=%%%", 400, detail="page token"),
    # Base64 that Temporal cannot parse: a client error, never 503 + Retry-After (clients would retry forever).
    Case("garbage page token", "GET", "/v1/jobs?page_token=AA==", 400, detail="page token"),
    Case("bad Last-Event-ID", "GET", "/v1/jobs/{job}/events", 422, headers={"Last-Event-ID": "yesterday"}),
    Case(
        "Last-Event-ID past Redis' range",
        "GET",
        "/v1/jobs/{job}/events",
        422,
        headers={"Last-Event-ID": "39-58278550228974437238"},
    ),
    Case("token with Unicode digits", "GET", "/v1/jobs/{job}/events?token=0123456789ab.²³.x", 401, key=None),
    Case("token_limit past the bound", "POST", "/v1/answers", 422, body={"question": "q", "token_limit": 10**23}),
    Case("token_budget past the bound", "POST", "/v1/agents", 422, body={"task": "t", "token_budget": 10**23}),
    Case("hostile job id", "GET", "/v1/jobs/..%2F..%2Fetc", 404),
    Case("body over the limit", "POST", "/v1/answers", 413, body={"question": "x" * (1024 * 1024 + 10)}),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_security_and_error_table(
    case: Case, http: httpx.AsyncClient, gateway: GatewayUnderTest, done_job: str
) -> None:
    headers = dict(case.headers)
    keys = {"a": gateway.keys[0], "b": gateway.keys[1], "unknown": "not-a-key"}
    if case.key is not None:
        headers["Authorization"] = f"Bearer {keys[case.key]}"
    kwargs: dict[str, Any] = {"headers": headers}
    if isinstance(case.body, bytes):
        kwargs["content"] = case.body
    elif case.body is not None:
        kwargs["json"] = case.body
    response = await http.request(case.method, case.path.replace("{job}", done_job), **kwargs)
    assert response.status_code == case.status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == case.status and problem["title"] and problem["detail"]
    assert case.detail in problem["detail"]
    if case.status == 401:
        assert response.headers["www-authenticate"] == "Bearer"


async def test_chunked_body_over_the_limit_is_413(http: httpx.AsyncClient, gateway: GatewayUnderTest) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"question": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"}'

    response = await http.post(
        "/v1/answers", content=chunks(), headers={**gateway.auth(), "Content-Type": "application/json"}
    )
    assert response.status_code == 413, response.text


@dataclass
class IdemCase:
    """Two submissions and whether they must name the same job."""

    name: str
    second_key: str  # which API key sends the second request: "a" or "b"
    second_body: dict[str, Any]
    wait_first: bool  # let the first job complete before the second request
    status: int  # the second request's status
    same_job: bool


IDEM_CASES = [
    IdemCase("same body, while running", "a", {}, False, 200, True),
    IdemCase("same body, after completion", "a", {}, True, 200, True),
    IdemCase("different body", "a", {"top_k": 2}, False, 409, False),
    IdemCase("different body after completion", "a", {"top_k": 3}, True, 409, False),
    IdemCase("same key from another caller", "b", {}, False, 202, False),
]


@pytest.mark.parametrize("case", IDEM_CASES, ids=[c.name for c in IDEM_CASES])
async def test_idempotency_table(case: IdemCase, http: httpx.AsyncClient, gateway: GatewayUnderTest) -> None:
    body = {"question": "How often does Comet Veyra return?", "collection": gateway.collection}
    idem = {"Idempotency-Key": f"order-{uuid.uuid4().hex}"}
    first = await http.post("/v1/answers", json=body, headers={**gateway.auth(), **idem})
    assert first.status_code == 202, first.text
    if case.wait_first:
        await wait_closed(http, gateway, first.json()["job_id"])
    key = gateway.keys[0] if case.second_key == "a" else gateway.keys[1]
    second = await http.post("/v1/answers", json={**body, **case.second_body}, headers={**gateway.auth(key), **idem})
    assert second.status_code == case.status, second.text
    if case.status == 409:
        assert second.headers["content-type"] == "application/problem+json"
        assert "different request" in second.json()["detail"]
        return
    assert (second.json()["job_id"] == first.json()["job_id"]) is case.same_job
    assert second.json()["duplicate"] is case.same_job


async def test_jobs_list_is_per_key_filtered_and_paginated(http: httpx.AsyncClient, gateway: GatewayUnderTest) -> None:
    # A fresh key pair's gateway would be cleaner, but the shared one has both keys: key B's jobs are its own.
    mine = []
    for i in range(3):
        r = await http.post(
            "/v1/answers",
            json={"question": f"list {i}", "collection": gateway.collection},
            headers=gateway.auth(gateway.keys[1]),
        )
        mine.append(r.json()["job_id"])
    seen: list[dict[str, Any]] = []
    for _ in range(100):  # visibility is eventually consistent
        seen, token, pages = [], None, 0
        while True:
            params: dict[str, Any] = {"page_size": 2, "pipeline": "answer"}
            if token:
                params["page_token"] = token
            r = await http.get("/v1/jobs", params=params, headers=gateway.auth(gateway.keys[1]))
            assert r.status_code == 200, r.text
            assert isinstance(r.json(), list)  # a bare array: the page token travels in a header
            seen += r.json()
            pages += 1
            token = r.headers.get("x-next-page-token")
            if not token:
                break
        if set(mine) <= {j["job_id"] for j in seen}:
            break
        await asyncio.sleep(0.2)
    assert set(mine) <= {j["job_id"] for j in seen} and pages >= 2
    others = await http.get("/v1/jobs", headers=gateway.auth(gateway.keys[0]))
    assert not set(mine) & {j["job_id"] for j in others.json()}
    completed = await http.get("/v1/jobs?status=completed", headers=gateway.auth(gateway.keys[1]))
    assert all(j["status"] == "completed" for j in completed.json())


async def test_cancel_answers_202_and_the_job_ends_cancelled(
    http: httpx.AsyncClient, gateway: GatewayUnderTest
) -> None:
    r = await http.post(
        "/v1/answers",
        json={"question": "slow [[sim:latency=20s]]", "collection": gateway.collection},
        headers=gateway.auth(),
    )
    job = r.json()["job_id"]
    cancel = await http.delete(f"/v1/jobs/{job}", headers=gateway.auth())
    assert cancel.status_code == 202 and cancel.json() == {"job_id": job, "status": "cancel_requested"}
    info = await wait_closed(http, gateway, job)
    assert info["status"] == "failed" and info["error"]["kind"] == "cancelled"


async def test_owner_is_the_key_id_never_the_key(http: httpx.AsyncClient, gateway: GatewayUnderTest, client) -> None:
    r = await http.post(
        "/v1/answers", json={"question": "owner?", "collection": gateway.collection}, headers=gateway.auth()
    )
    desc = await client.get_workflow_handle(r.json()["job_id"]).describe()
    from schemas import search_attributes as sa

    assert desc.typed_search_attributes.get(sa.OWNER) == key_id(gateway.keys[0])
    assert len(key_id(gateway.keys[0])) == 12
    assert gateway.keys[0] not in str(await desc.memo())


async def test_rate_limit_is_per_key_with_retry_after(gateway_factory: Callable[..., GatewayUnderTest]) -> None:
    # A moving window: the fourth request within a minute is refused wherever the four fall on the clock.
    limited = gateway_factory(GENAI_FLOW_RATE_LIMIT="3/m")
    async with httpx.AsyncClient(base_url=limited.url, timeout=30) as http:
        codes = [(await http.get("/v1/jobs", headers=limited.auth())).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        over = await http.get("/v1/jobs", headers=limited.auth())
        assert over.headers["content-type"] == "application/problem+json"
        assert 1 <= int(over.headers["retry-after"]) <= 60
        # Another key has its own budget.
        assert (await http.get("/v1/jobs", headers=limited.auth(limited.keys[1]))).status_code == 200


async def test_rate_limit_never_lets_a_burst_through_at_a_window_edge(
    gateway_factory: Callable[..., GatewayUnderTest],
) -> None:
    # Start 1 s before a multiple of 5 s on the clock, where a fixed window would reset and let two more through.
    limited = gateway_factory(GENAI_FLOW_RATE_LIMIT="2/5s")
    async with httpx.AsyncClient(base_url=limited.url, headers=limited.auth(), timeout=30) as http:
        await asyncio.sleep((4 - time.time() % 5) % 5)
        first = time.monotonic()
        assert [(await http.get("/v1/jobs")).status_code for _ in range(2)] == [200, 200]
        refused = []
        while time.monotonic() - first < 3:  # 2 s short of the window: slack for a slow request on a busy machine
            refused.append(await http.get("/v1/jobs"))
            await asyncio.sleep(0.2)
        assert {r.status_code for r in refused} == {429}
        # Retry-After is honest: once it has passed, the oldest request has left the window.
        await asyncio.sleep(int(refused[-1].headers["retry-after"]))
        assert (await http.get("/v1/jobs")).status_code == 200


async def test_events_token_counts_against_the_owners_rate_limit(
    gateway_factory: Callable[..., GatewayUnderTest], client
) -> None:
    limited = gateway_factory(GENAI_FLOW_RATE_LIMIT="3/m")
    async with httpx.AsyncClient(base_url=limited.url, timeout=30) as http:
        started = await http.post("/v1/answers", json={"question": "q"}, headers=limited.auth())
        assert started.status_code == 202, started.text
        events_url = started.json()["events_url"]
        try:
            codes = []
            for _ in range(3):  # no worker serves this gateway's queues: each stream stays open until closed here
                async with http.stream("GET", events_url) as response:
                    codes.append(response.status_code)
            assert codes == [200, 200, 429]
            assert int(response.headers["retry-after"]) >= 1
        finally:
            await client.get_workflow_handle(started.json()["job_id"]).terminate("test done")


async def test_operations_endpoints(http: httpx.AsyncClient, gateway: GatewayUnderTest) -> None:
    assert (await http.get("/healthz")).json() == {"status": "ok", "checks": {}}
    ready = await http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"temporal": "ok", "redis": "ok"}
    await http.get("/v1/jobs", headers=gateway.auth())
    metrics = (await http.get("/metrics")).text
    assert 'genai_flow_gateway_requests_total{method="GET",route="/v1/jobs",status="200"}' in metrics
    schema = (await http.get("/openapi.json")).json()
    assert {"/v1/answers", "/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/events"} <= set(schema["paths"])
    preflight = await http.options(
        "/v1/jobs", headers={"Origin": "http://127.0.0.1:8233", "Access-Control-Request-Method": "GET"}
    )
    assert preflight.headers["access-control-allow-origin"] == "http://127.0.0.1:8233"
    stranger = await http.options(
        "/v1/jobs", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    )
    assert "access-control-allow-origin" not in stranger.headers


async def test_readyz_reports_a_missing_redis(gateway_factory: Callable[..., GatewayUnderTest]) -> None:
    from runtime.processes import free_port

    broken = gateway_factory(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0", GENAI_FLOW_RATE_LIMIT="1/m")
    async with httpx.AsyncClient(base_url=broken.url, timeout=30) as http:
        ready = await http.get("/readyz")
        # The rate limit fails open: a Redis outage does not take the API down with it.
        codes = [(await http.get("/v1/jobs", headers=broken.auth())).status_code for _ in range(2)]
    assert ready.status_code == 503 and ready.json()["checks"]["redis"].startswith("unavailable")
    assert codes == [200, 200]


def test_without_keys_the_gateway_refuses_a_public_bind(servers: dict[str, str]) -> None:
    env = {**os.environ, "GENAI_FLOW_API_KEYS": ""}
    done = subprocess.run(
        [sys.executable, "-m", "starter.cli", "gateway", "--host", "0.0.0.0", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "without API keys" in done.stderr
