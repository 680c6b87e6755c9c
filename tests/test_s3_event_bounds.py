"""S3 notifications of many records: bounded per request, started concurrently, counted against the rate limit;
an object the worker has no credentials for is a Permanent failure (one dead letter), not a retried one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import redis.asyncio
from temporalio.client import Client

from runtime.documents import DocumentRegistry
from runtime.keys import RedisKeys
from runtime.objectstore import ObjectAccessError, ObjectStore
from runtime.s3events import MAX_RECORDS
from runtime.settings import Settings
from schemas.ingest import DocumentState
from tests.conftest import GatewayUnderTest
from tests.test_ingest_events import s3_event


def notification(bucket: str, count: int, tag: str) -> dict[str, Any]:
    """One notification carrying `count` created-object records."""
    records: list[dict[str, Any]] = []
    for n in range(count):
        records += s3_event(bucket, f"{tag}/doc-{n}.md", eTag=f"etag-{tag}-{n}")["Records"]
    return {"Records": records}


async def test_a_notification_is_bounded_started_at_once_and_rate_limited(
    gateway_factory: Callable[..., GatewayUnderTest], client: Client
) -> None:
    gw = gateway_factory(GENAI_FLOW_ALLOWED_BUCKETS="bulk", GENAI_FLOW_RATE_LIMIT=f"{MAX_RECORDS + 10}/m")
    tag = gw.settings.key_prefix
    async with httpx.AsyncClient(base_url=gw.url, headers=gw.auth(), timeout=60) as http:
        too_many = await http.post("/v1/events/s3", json=notification("bulk", MAX_RECORDS + 1, tag))
        accepted = await http.post("/v1/events/s3", json=notification("bulk", MAX_RECORDS, tag))
        # The window now holds 2 + MAX_RECORDS - 1 of its MAX_RECORDS + 10: a notification of 10 more is over it.
        limited = await http.post("/v1/events/s3", json=notification("bulk", 10, f"{tag}-more"))
    assert too_many.status_code == 413 and too_many.headers["content-type"] == "application/problem+json"
    assert f"at most {MAX_RECORDS}" in too_many.json()["detail"]
    assert accepted.status_code == 202, accepted.text
    jobs = accepted.json()["jobs"]
    assert [j["uri"] for j in jobs] == [f"s3://bulk/{tag}/doc-{n}.md" for n in range(MAX_RECORDS)]  # record order
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    for job in jobs:  # no worker serves these queues: end the runs rather than leave them queued
        await client.get_workflow_handle(job["job_id"]).terminate("test over")


async def test_missing_credentials_are_an_access_error(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata lookup: loopback only
    async with ObjectStore() as store:
        with pytest.raises(ObjectAccessError, match="credentials"):
            await store.get("s3://any-bucket/doc.md", version_id="v1")


async def test_the_index_records_of_many_records_are_read_in_one_round_trip(
    isolated_settings: Settings, isolated_redis: redis.asyncio.Redis
) -> None:
    registry = DocumentRegistry(isolated_redis, RedisKeys.of(isolated_settings))
    for uri, version in (("s3://bulk/a.md", "v1"), ("s3://bulk/c.md", "v3")):
        await registry.save(DocumentState(collection="bulk", uri=uri, version=version, job_id=f"ingest-{version}"))
    found = await registry.get_many("bulk", ["s3://bulk/c.md", "s3://bulk/b.md", "s3://bulk/a.md"])
    assert [state.version if state else None for state in found] == ["v3", None, "v1"]  # in the order asked
    assert await registry.get_many("bulk", []) == []
