"""Gateway settings on a real uvicorn: GENAI_FLOW_CORS_ORIGINS, and serving without keys on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
from temporalio.client import Client

from tests.conftest import GatewayUnderTest

APP = "https://app.example.com"
STRANGER = "https://evil.example"


async def test_configured_cors_origins_get_cors_headers_and_strangers_do_not(
    gateway_factory: Callable[..., GatewayUnderTest],
) -> None:
    gw = gateway_factory(GENAI_FLOW_CORS_ORIGINS=f"{APP},https://other.example.com")
    asked = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Authorization, Idempotency-Key",
    }
    async with httpx.AsyncClient(base_url=gw.url, timeout=30) as http:
        preflight = await http.options("/v1/answers", headers={"Origin": APP, **asked})
        assert preflight.status_code == 200, preflight.text
        assert preflight.headers["access-control-allow-origin"] == APP
        assert "POST" in preflight.headers["access-control-allow-methods"]
        allowed_headers = preflight.headers["access-control-allow-headers"].lower()
        assert "authorization" in allowed_headers and "idempotency-key" in allowed_headers
        # The actual request: the browser may read the headers a client needs (Location, Retry-After, paging).
        listed = await http.get("/v1/jobs", headers={"Origin": APP, **gw.auth()})
        assert listed.status_code == 200 and listed.headers["access-control-allow-origin"] == APP
        assert {"location", "retry-after", "x-next-page-token"} <= set(
            listed.headers["access-control-expose-headers"].lower().replace(" ", "").split(",")
        )

        refused = await http.options("/v1/answers", headers={"Origin": STRANGER, **asked})
        assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers
        stranger = await http.get("/v1/jobs", headers={"Origin": STRANGER, **gw.auth()})
        assert "access-control-allow-origin" not in stranger.headers


async def test_without_keys_on_loopback_it_serves_the_local_user_and_warns(
    gateway_factory: Callable[..., GatewayUnderTest], client: Client
) -> None:
    gw = gateway_factory(GENAI_FLOW_API_KEYS="")  # the factory binds 127.0.0.1
    assert gw.url.startswith("http://127.0.0.1:")
    async with httpx.AsyncClient(base_url=gw.url, timeout=30) as http:
        started = await http.post("/v1/answers", json={"question": "Who runs this?"})  # no Authorization header
        assert started.status_code == 202, started.text
        job_id = started.json()["job_id"]
        try:
            status = await http.get(f"/v1/jobs/{job_id}")
            assert status.status_code == 200 and status.json()["job_id"] == job_id
            # Any header is the same trusted local user: it sees the job too, like the CLI.
            listed: list[str] = []
            for _ in range(100):  # visibility is eventually consistent
                response = await http.get("/v1/jobs", headers={"Authorization": "Bearer anything"})
                assert response.status_code == 200, response.text
                listed = [job["job_id"] for job in response.json()]
                if job_id in listed:
                    break
                await asyncio.sleep(0.2)
            assert job_id in listed
        finally:
            await client.get_workflow_handle(job_id).terminate("test done")
    assert "no API keys configured (GENAI_FLOW_API_KEYS)" in gw.process.log_path.read_text(errors="replace")
