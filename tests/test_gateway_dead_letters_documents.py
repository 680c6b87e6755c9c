"""The console's API twins: GET /v1/dead-letters, POST /v1/dead-letters/{id}/replay, POST /v1/documents."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest_asyncio

from tests.conftest import GatewayUnderTest

PROBLEM = "application/problem+json"


@pytest_asyncio.fixture
async def http(gateway: GatewayUnderTest) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.url, headers=gateway.auth(), timeout=60) as client:
        yield client


async def closed(http: httpx.AsyncClient, job: str, timeout: float = 120) -> dict[str, Any]:
    async def poll() -> dict[str, Any]:
        while True:
            info: dict[str, Any] = (await http.get(f"/v1/jobs/{job}")).json()
            if info["status"] in ("completed", "failed", "dead_lettered"):
                return info
            await asyncio.sleep(0.25)

    return await asyncio.wait_for(poll(), timeout)


async def test_dead_letters_listed_per_key_and_replayed(
    http: httpx.AsyncClient, gateway: GatewayUnderTest, unique: str
) -> None:
    question = f"Who catalogued Comet Veyra? [[sim:500x5#{unique}]]"
    started = await http.post("/v1/answers", json={"question": question, "collection": gateway.collection})
    job = started.json()["job_id"]
    assert (await closed(http, job))["status"] == "dead_lettered"

    rows = (await http.get("/v1/dead-letters")).json()
    row = next(r for r in rows if r["job_id"] == job)
    assert row["step"] == "retrieve" and row["attempts"] == 5 and row["pipeline"] == "answer"
    assert "Transient" in row["reason"] and row["at"] and row["replayed_as"] == []
    other = gateway.auth(gateway.keys[1])
    assert job not in {r["job_id"] for r in (await http.get("/v1/dead-letters", headers=other)).json()}

    url = f"/v1/dead-letters/{job}/replay"
    refused = await http.post(url, json={}, headers=other)
    assert refused.status_code == 403 and refused.headers["content-type"] == PROBLEM
    invalid = await http.post(url, json={"input": {"question": ""}})
    assert invalid.status_code == 422 and "invalid input" in invalid.json()["detail"]
    assert (await http.post("/v1/dead-letters/answer-nope/replay", json={})).status_code == 404

    replayed = await http.post(url, json={})  # the original input: the marker's 5 failures are spent
    assert replayed.status_code == 202, replayed.text
    new = replayed.json()
    assert new["job_id"] == f"{job}-replay-1" and "token=" in new["events_url"]
    assert (await closed(http, new["job_id"]))["status"] == "completed"
    assert (await http.get(f"/v1/jobs/{new['job_id']}")).status_code == 200  # owned by the replaying key
    row = next(r for r in (await http.get("/v1/dead-letters")).json() if r["job_id"] == job)
    assert row["replayed_as"] == [new["job_id"]]
    not_dead = await http.post(f"/v1/dead-letters/{new['job_id']}/replay", json={})
    assert not_dead.status_code == 409 and "no dead letter" in not_dead.json()["detail"]


async def test_document_upload_starts_ingestion_with_its_own_limit(
    http: httpx.AsyncClient, gateway: GatewayUnderTest, unique: str
) -> None:
    collection = f"up-{unique}"
    # Larger than the 1 MiB body limit of JSON requests: uploads have their own (50 MiB by default).
    text = f"# Upload {unique}\n\n" + "The lighthouse keeper logs every passing ship.\n" * 30_000
    files = {"file": (f"notes {unique}.md", text.encode(), "text/markdown")}
    response = await http.post("/v1/documents", files=files, data={"collection": collection})
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["job_id"].startswith("ingest-") and job["uri"].endswith(f"notes_{unique}.md")
    assert response.headers["location"] == job["status_url"]
    assert (await closed(http, job["job_id"]))["status"] == "completed"
    again = await http.post("/v1/documents", files=files, data={"collection": collection})
    assert again.status_code == 200 and again.json()["job_id"] == job["job_id"]

    for files, data, reason in [
        ({"file": ("run.exe", b"MZ", "application/octet-stream")}, {}, "unsupported file type"),
        ({"file": ("empty.md", b"", "text/markdown")}, {}, "empty"),
        ({"file": ("a.md", b"x", "text/markdown")}, {"collection": "../etc"}, "collection"),
    ]:
        bad = await http.post("/v1/documents", files=files, data=data)
        assert bad.status_code == 422 and reason in bad.json()["detail"], bad.text
        assert bad.headers["content-type"] == PROBLEM
    missing = await http.post("/v1/documents", data={"collection": collection})
    assert missing.status_code == 422 and "file" in missing.json()["detail"]
    anonymous = await http.post("/v1/documents", files=files, headers={"Authorization": ""})
    assert anonymous.status_code == 401


async def test_upload_limit_is_its_own_setting(gateway_factory: Callable[..., GatewayUnderTest]) -> None:
    gw = gateway_factory(GENAI_FLOW_MAX_UPLOAD_BYTES="2000")
    async with httpx.AsyncClient(base_url=gw.url, headers=gw.auth(), timeout=30) as http:
        files = {"file": ("big.md", b"x" * 5000, "text/markdown")}
        response = await http.post("/v1/documents", files=files)
        assert response.status_code == 413 and "2000 bytes" in response.json()["detail"]
        schema = (await http.get("/openapi.json")).json()
        assert {"/v1/dead-letters", "/v1/dead-letters/{job_id}/replay", "/v1/documents"} <= set(schema["paths"])
        assert not any(path.startswith("/ui/jobs") for path in schema["paths"])
