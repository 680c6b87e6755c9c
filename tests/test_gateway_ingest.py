"""Ingestion through the gateway: allow-listed URIs, the S3 webhook (AWS, SNS with Basic auth), hostile bodies."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from temporalio.client import Client

from gateway.sns import is_sns_url
from runtime.objectstore import ObjectStore
from tests.conftest import GatewayUnderTest
from tests.helpers import running_workers
from tests.sse import collect
from tests.test_ingest_events import ZEPHYR, s3_event, sequencer

TOPIC = "arn:aws:sns:us-east-1:123456789012:docs"


@dataclass
class IngestRig:
    gw: GatewayUnderTest
    http: httpx.AsyncClient
    store: ObjectStore
    root: Path
    outside: Path
    bucket: str

    async def put(self, key: str, text: str) -> dict[str, Any]:
        info = await self.store.put(f"s3://{self.bucket}/{key}", text.encode())
        return {"eTag": info.etag, "versionId": info.version_id, "sequencer": sequencer()}

    async def closed(self, job_id: str) -> dict[str, Any]:
        for _ in range(600):
            info = (await self.http.get(f"/v1/jobs/{job_id}")).json()
            if info["status"] in ("completed", "failed", "dead_lettered"):
                return info
            await asyncio.sleep(0.2)
        raise AssertionError(f"{job_id} did not close")


@pytest_asyncio.fixture(scope="module")
async def rig(
    aws: str, client: Client, gateway_factory: Callable[..., GatewayUnderTest], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[IngestRig]:
    root = tmp_path_factory.mktemp("allowed")
    outside = tmp_path_factory.mktemp("outside")
    bucket = f"gw-docs-{root.name[-6:].lower().replace('_', '-')}"
    gw = gateway_factory(GENAI_FLOW_ALLOWED_ROOTS=str(root), GENAI_FLOW_ALLOWED_BUCKETS=bucket)
    gw.collection = f"gwi-{gw.settings.key_prefix}"
    async with (
        running_workers(client, gw.settings),
        ObjectStore() as store,
        httpx.AsyncClient(base_url=gw.url, headers=gw.auth(), timeout=60) as http,
    ):
        s3 = await store.s3()
        await s3.create_bucket(Bucket=bucket)
        await s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        yield IngestRig(gw, http, store, root, outside, bucket)


async def test_a_file_under_the_allowed_roots_is_indexed_and_answers_from_it(rig: IngestRig) -> None:
    doc = rig.root / "zephyr.md"
    doc.write_text(ZEPHYR)
    body = {"uri": doc.as_uri(), "collection": rig.gw.collection}
    first = await rig.http.post("/v1/ingestions", json=body)
    assert first.status_code == 202, first.text
    job = first.json()
    assert job["uri"] == doc.resolve().as_uri() and "?token=" in job["events_url"]
    assert (await rig.closed(job["job_id"]))["status"] == "completed"
    again = await rig.http.post("/v1/ingestions", json=body)
    assert again.status_code == 200 and again.json()["unchanged"] and again.json()["job_id"] == job["job_id"]
    ask = await rig.http.post(
        "/v1/answers", json={"question": "Who commissioned the Zephyr reactor?", "collection": rig.gw.collection}
    )
    answer = await rig.closed(ask.json()["job_id"])
    assert "Amelia Hartwell" in answer["result"]["answer"]


async def test_an_ingestions_event_stream_carries_its_steps_and_ends_with_the_outcome(rig: IngestRig) -> None:
    doc = rig.root / "orchard.md"
    doc.write_text(ZEPHYR.replace("Zephyr reactor", "Harlow orchard"))
    job = (await rig.http.post("/v1/ingestions", json={"uri": doc.as_uri(), "collection": rig.gw.collection})).json()
    # The signed events_url, as a browser's EventSource follows it: no header, the stream closes after the outcome.
    async with httpx.AsyncClient(timeout=60) as anonymous:
        events, _ = await asyncio.wait_for(collect(anonymous, job["events_url"]), 120)
    steps = [(e.event, e.data["step"]) for e in events if e.event.startswith("step.")]
    assert steps == [
        (kind, step)
        for step in ("extract_text", "chunk", "embed#0", "index_chunks")
        for kind in ("step.started", "step.completed")
    ]
    kinds = [e.event for e in events]
    assert kinds[-1] == "job.completed" and kinds.count("job.completed") == 1 and all(e.id for e in events)
    final = events[-1].data["data"]
    assert "synthesized" not in final  # the run's own terminal event, enriched by the gateway
    assert final["outcome"] == "indexed" and final["chunks"] == 1 and final["status"] == "completed"
    assert final["result"]["uri"] == job["uri"]


@pytest.mark.parametrize(
    ("make_uri", "status", "detail"),
    [
        (lambda r: (r.outside / "secret.md").as_uri(), 403, "GENAI_FLOW_ALLOWED_ROOTS"),
        (lambda r: "file:///etc/passwd", 403, "GENAI_FLOW_ALLOWED_ROOTS"),
        (lambda r: (r.root / ".." / r.outside.name / "secret.md").as_uri(), 403, "GENAI_FLOW_ALLOWED_ROOTS"),
        (lambda r: (r.root / "link.md").as_uri(), 403, "GENAI_FLOW_ALLOWED_ROOTS"),  # a symlink leading outside
        (lambda r: (r.root / "missing.md").as_uri(), 422, "no such file"),
        (lambda r: (r.root / "image.png").as_uri(), 422, "unsupported"),
        (lambda r: "file://evil.example/etc/passwd", 422, "local path"),
        (lambda r: "http://169.254.169.254/latest/meta-data", 422, "s3://bucket/key or file://"),
        (lambda r: "s3://other-bucket/report.md", 403, "GENAI_FLOW_ALLOWED_BUCKETS"),
        (lambda r: f"s3://{r.bucket}/", 422, "one object"),
        (lambda r: f"s3://{r.bucket}/not-there.md", 422, "no such object"),
    ],
    ids=[
        "outside",
        "etc-passwd",
        "dot-dot",
        "symlink-out",
        "missing",
        "unsupported",
        "remote-host",
        "http",
        "bucket-not-allowed",
        "bucket-only",
        "missing-object",
    ],
)
async def test_uris_outside_the_allow_lists_are_refused(
    rig: IngestRig, make_uri: Callable[[IngestRig], str], status: int, detail: str
) -> None:
    (rig.outside / "secret.md").write_text("top secret")
    (rig.root / "image.png").write_bytes(b"\x89PNG")
    link = rig.root / "link.md"
    if not link.is_symlink():
        link.symlink_to(rig.outside / "secret.md")
    response = await rig.http.post("/v1/ingestions", json={"uri": make_uri(rig)})
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert detail in response.json()["detail"]


async def test_s3_event_from_an_allowed_bucket_starts_one_job_per_object(rig: IngestRig) -> None:
    meta = await rig.put("notes/zephyr.md", ZEPHYR)
    body = s3_event(rig.bucket, "notes/zephyr.md", **meta)
    body["Records"] += s3_event("other-bucket", "x.md", eTag="abc")["Records"]
    body["Records"] += s3_event(rig.bucket, "photo.jpg", eTag="def")["Records"]
    response = await rig.http.post("/v1/events/s3", json=body)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert [j["uri"] for j in accepted["jobs"]] == [f"s3://{rig.bucket}/notes/zephyr.md"]
    reasons = {i["key"]: i["reason"] for i in accepted["ignored"]}
    assert "GENAI_FLOW_ALLOWED_BUCKETS" in reasons["x.md"] and "unsupported" in reasons["photo.jpg"]
    assert (await rig.closed(accepted["jobs"][0]["job_id"]))["status"] == "completed"
    redelivered = await rig.http.post("/v1/events/s3", json=body)  # S3 delivers at least once
    assert redelivered.json()["jobs"][0]["job_id"] == accepted["jobs"][0]["job_id"]
    assert redelivered.json()["jobs"][0]["duplicate"] is True


async def test_sns_delivery_with_basic_auth(rig: IngestRig) -> None:
    meta = await rig.put("sns/orchard.txt", "The Harlow orchard grows Bramley apples.")
    envelope = {"Type": "Notification", "MessageId": "m-1", "TopicArn": TOPIC,
                "Message": json.dumps(s3_event(rig.bucket, "sns/orchard.txt", **meta))}  # fmt: skip
    basic = "Basic " + base64.b64encode(f"sns:{rig.gw.keys[0]}".encode()).decode()
    response = await rig.http.post("/v1/events/s3", json=envelope, headers={"Authorization": basic})
    assert response.status_code == 202, response.text
    (job,) = response.json()["jobs"]
    assert (await rig.closed(job["job_id"]))["status"] == "completed"
    wrong = "Basic " + base64.b64encode(b"sns:not-the-key").decode()
    assert (await rig.http.post("/v1/events/s3", json=envelope, headers={"Authorization": wrong})).status_code == 401


HOSTILE = [
    ("not json", b"{not json", 400, "not JSON"),
    ("a json array", b"[]", 400, "not an object"),
    ("no records", b"{}", 400, ""),
    ("records not a list", json.dumps({"Records": "x"}).encode(), 400, ""),
    ("record without s3", json.dumps({"Records": [{"eventName": "ObjectCreated:Put"}]}).encode(), 400, ""),
    (
        "sns in sns",
        json.dumps(
            {
                "Type": "Notification",
                "MessageId": "1",
                "TopicArn": TOPIC,
                "Message": json.dumps({"Type": "Notification", "MessageId": "2", "TopicArn": TOPIC, "Message": "{}"}),
            }
        ).encode(),
        400,
        "inside",
    ),
    (
        "sns with junk message",
        json.dumps({"Type": "Notification", "MessageId": "1", "TopicArn": TOPIC, "Message": "<xml/>"}).encode(),
        400,
        "SNS Message",
    ),
    ("deeply nested", b'{"Records": ' + b"[" * 5000 + b"]" * 5000 + b"}", 400, ""),
]


@pytest.mark.parametrize(("name", "body", "status", "detail"), HOSTILE, ids=[h[0] for h in HOSTILE])
async def test_malformed_and_hostile_events_get_400(
    rig: IngestRig, name: str, body: bytes, status: int, detail: str
) -> None:
    response = await rig.http.post("/v1/events/s3", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert detail in response.json()["detail"]


async def test_hostile_keys_are_opaque_names_in_the_allowed_bucket(rig: IngestRig) -> None:
    # A key that reads like a path is an S3 key: the object stored under it is what gets indexed.
    text = "The Quillon archive holds the Zephyr reactor's commissioning notes."
    stored = await rig.put("../../etc/passwd.md", text)
    response = await rig.http.post("/v1/events/s3", json=s3_event(rig.bucket, "../../etc/passwd.md", **stored))
    assert response.status_code == 202, response.text
    (job,) = response.json()["jobs"]
    assert job["uri"] == f"s3://{rig.bucket}/../../etc/passwd.md"  # an S3 key, never a local path
    info = await rig.closed(job["job_id"])
    assert (info["status"], info["outcome"]) == ("completed", "indexed"), info
    assert info["result"]["chars"] == len(text) and info["result"]["chunks"] >= 1
    # Missing from the bucket: S3 answers NoSuchKey and nothing is indexed (no local file is ever tried).
    missing = s3_event(rig.bucket, "../../../etc/hostname.md", eTag="abc", sequencer=sequencer())
    response = await rig.http.post("/v1/events/s3", json=missing)
    (job,) = response.json()["jobs"]
    info = await rig.closed(job["job_id"])
    assert (info["status"], info["outcome"]) == ("completed", "superseded"), info
    assert f"get s3://{rig.bucket}/../../../etc/hostname.md: not found (NoSuchKey)" in info["result"]["reason"]
    assert info["result"]["chunks"] == 0
    unauth = await rig.http.post("/v1/events/s3", json=missing, headers={"Authorization": ""})
    assert unauth.status_code == 401


class _Recorder(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        _Recorder.hits.append(self.path)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


async def test_subscription_confirmation_is_logged_and_never_followed_off_the_sns_host(
    gateway_factory: Callable[..., GatewayUnderTest],
) -> None:
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    trap = f"http://127.0.0.1:{server.server_address[1]}/confirm"
    try:
        for auto in ("false", "true"):
            gw = gateway_factory(GENAI_FLOW_SNS_AUTO_CONFIRM=auto)
            confirm = {"Type": "SubscriptionConfirmation", "MessageId": "m", "TopicArn": TOPIC,
                       "Message": "confirm", "SubscribeURL": trap, "Token": "t"}  # fmt: skip
            async with httpx.AsyncClient(base_url=gw.url, headers=gw.auth(), timeout=30) as http:
                response = await http.post("/v1/events/s3", json=confirm)
            assert response.status_code == 202 and response.json()["jobs"] == []
            reason = response.json()["ignored"][0]["reason"]
            assert ("logged" in reason) if auto == "false" else ("not on the AWS SNS host" in reason)
    finally:
        server.shutdown()
    assert _Recorder.hits == []


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=x", True),
        ("https://sns.cn-north-1.amazonaws.com.cn/?Action=ConfirmSubscription", True),
        ("http://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription", False),
        ("https://sns.us-east-1.amazonaws.com.evil.example/", False),
        ("https://evil.example/sns.us-east-1.amazonaws.com", False),
        ("https://user@sns.us-east-1.amazonaws.com/", False),
        ("https://sns.us-east-1.amazonaws.com:8443/", False),
    ],
)
def test_only_the_aws_sns_host_is_ever_followed(url: str, ok: bool) -> None:
    assert is_sns_url(url) is ok
