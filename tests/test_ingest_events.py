"""S3 events → IngestDocument on moto's S3, SQS and SNS: citations, duplicates, versions, order, removal, keys."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import pytest_asyncio
from temporalio.client import Client

from runtime.objectstore import ObjectStore
from runtime.s3events import parse_event_body
from runtime.vectorindex import VectorIndex
from schemas.answer import AnswerRequest, AnswerResult
from schemas.ingest import IngestAccepted, IngestJob, IngestOutcome
from schemas.jobs import JobStatus, Pipeline
from starter.client import GenAIFlowClient
from starter.sqs import SqsMessageResult, poll_sqs
from tests.helpers import private_settings, running_workers

ZEPHYR = "# The Zephyr reactor\n\nThe Zephyr reactor was commissioned in 1987 by Dr. Amelia Hartwell in Lisbon."
ORCHARD = "The Harlow orchard grows Bramley apples. It was planted by Thomas Greaves in 1911 near Canterbury."
COMET = "Comet Veyra returns every 71 years. Astronomer Lucia Moreno first catalogued it from the Atacama desert."
_SEQ = itertools.count(1)


def sequencer() -> str:
    """An increasing S3-style sequencer."""
    return f"0055AED6DCD9{next(_SEQ):06X}"


def s3_event(bucket: str, key: str, name: str = "ObjectCreated:Put", **obj: Any) -> dict[str, Any]:
    """An AWS-format S3 event notification for one object (the key URL-encoded as S3 sends it)."""
    s3_object = {"key": quote_plus(key), **{k: v for k, v in obj.items() if v is not None}}
    record = {"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": name, "eventTime": "2026-11-25T04:00:00Z",
              "s3": {"bucket": {"name": bucket}, "object": s3_object}}  # fmt: skip
    return {"Records": [record]}


@dataclass
class Rig:
    flow: GenAIFlowClient
    store: ObjectStore
    index: VectorIndex
    bucket: str
    collection: str

    async def put(self, key: str, text: str) -> tuple[str | None, str | None]:
        """Upload; returns (ETag, VersionId)."""
        info = await self.store.put(f"s3://{self.bucket}/{key}", text.encode())
        return info.etag, info.version_id

    async def send(self, body: dict[str, Any], collection: str | None = None) -> IngestAccepted:
        return await self.flow.ingest_events(parse_event_body(json.dumps(body)), collection or self.collection)

    async def created(self, key: str, text: str, seq: str | None = None) -> IngestJob:
        etag, vid = await self.put(key, text)
        accepted = await self.send(s3_event(self.bucket, key, eTag=etag, versionId=vid, sequencer=seq or sequencer()))
        (job,) = accepted.jobs
        return job

    async def finished(self, job_id: str) -> dict[str, Any]:
        info = await asyncio.wait_for(self.flow.wait(job_id), 120)
        assert info.status is JobStatus.COMPLETED, info.error
        assert info.result is not None
        return info.result

    async def chunks(self, key: str) -> dict[str, Any]:
        coll = await self.index.collection(self.collection)
        return dict(await coll.get(where={"uri": f"s3://{self.bucket}/{key}"}, include=["metadatas", "documents"]))

    async def cited_sources(self, question: str) -> list[str]:
        started = await self.flow.start(Pipeline.ANSWER, AnswerRequest(question=question, collection=self.collection))
        answer = AnswerResult.model_validate((await asyncio.wait_for(self.flow.wait(started.job_id), 60)).result)
        # One citation per cited sentence: the same document may be cited more than once.
        return list(dict.fromkeys(c.source for c in answer.citations))


@pytest_asyncio.fixture
async def rig(aws: str, client: Client, unique: str) -> AsyncIterator[Rig]:
    settings = private_settings(unique)
    async with running_workers(client, settings) as flow, ObjectStore() as store:
        s3 = await store.s3()
        await s3.create_bucket(Bucket=f"docs-{unique}")
        await s3.put_bucket_versioning(Bucket=f"docs-{unique}", VersioningConfiguration={"Status": "Enabled"})
        yield Rig(flow, store, await VectorIndex.connect(settings), f"docs-{unique}", f"ev-{unique}")


async def test_created_event_with_an_awkward_key_is_indexed_and_cited(rig: Rig) -> None:
    key = "reports/Zephyr notes + ünïcødé 日本.md"
    job = await rig.created(key, ZEPHYR)
    assert job.uri == f"s3://{rig.bucket}/{key}" and not job.duplicate  # the key round-trips decoded
    result = await rig.finished(job.job_id)
    assert result["outcome"] == "indexed" and result["chunks"] == 1
    stored = await rig.chunks(key)
    assert stored["metadatas"][0]["source"] == key and stored["metadatas"][0]["uri"] == job.uri
    assert await rig.cited_sources("Who commissioned the Zephyr reactor?") == [key]


async def test_sns_envelope_and_subscription_confirmation(rig: Rig) -> None:
    etag, vid = await rig.put("orchard.txt", ORCHARD)
    inner = s3_event(rig.bucket, "orchard.txt", eTag=etag, versionId=vid, sequencer=sequencer())
    envelope = {"Type": "Notification", "MessageId": "m-1", "TopicArn": "arn:aws:sns:us-east-1:123:docs",
                "Message": json.dumps(inner), "Timestamp": "2026-11-25T04:00:00Z"}  # fmt: skip
    (job,) = (await rig.send(envelope)).jobs
    await rig.finished(job.job_id)
    assert await rig.cited_sources("Who planted the Harlow orchard?") == ["orchard.txt"]
    confirm = {"Type": "SubscriptionConfirmation", "MessageId": "m-2", "TopicArn": "arn:aws:sns:us-east-1:123:docs",
               "Message": "confirm", "SubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Confirm"}  # fmt: skip
    accepted = await rig.send(confirm)
    assert not accepted.jobs and "SubscriptionConfirmation" in accepted.ignored[0].reason


async def test_sqs_poller_on_real_s3_notifications(rig: Rig, unique: str) -> None:
    """S3 → SQS and S3 → SNS → SQS as moto delivers them; a malformed message is kept, the others deleted."""
    import aioboto3

    session = aioboto3.Session()
    async with session.client("sqs") as sqs, session.client("sns") as sns:
        queue_url = (await sqs.create_queue(QueueName=f"q-{unique}"))["QueueUrl"]
        arn = (await sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"]))["Attributes"]
        topic = (await sns.create_topic(Name=f"t-{unique}"))["TopicArn"]
        await sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["QueueArn"])
        s3 = await rig.store.s3()
        await s3.put_bucket_notification_configuration(
            Bucket=rig.bucket,
            NotificationConfiguration={
                "QueueConfigurations": [{"QueueArn": arn["QueueArn"], "Events": ["s3:ObjectCreated:*"],
                                         "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "direct/"}]}}}],
                "TopicConfigurations": [{"TopicArn": topic, "Events": ["s3:ObjectCreated:*"],
                                         "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "fan/"}]}}}],
            },
        )  # fmt: skip
        await rig.put("direct/comet notes.md", COMET)
        await rig.put("fan/orchard+pears.txt", ORCHARD)
        await sqs.send_message(QueueUrl=queue_url, MessageBody="this is not an event")
        seen: list[SqsMessageResult] = []
        deleted = await poll_sqs(rig.flow, queue_url, rig.collection, wait_s=1, max_polls=3, on_message=seen.append)
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        left = (await sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names))["Attributes"]

    # S3 announces a new notification configuration with an s3:TestEvent (to the queue and through SNS).
    tests = [i for r in seen if r.accepted for i in r.accepted.ignored if "TestEvent" in i.reason]
    assert deleted == 2 + len(tests) and tests, seen
    kept = [r for r in seen if not r.deleted]
    assert len(kept) == 1 and "not an S3 event" in (kept[0].error or "")
    assert sum(int(v) for v in left.values()) == 1  # only that one stays in the queue (invisible until it times out)
    jobs = [job for r in seen if r.accepted for job in r.accepted.jobs]
    assert sorted(j.uri for j in jobs) == sorted(
        [f"s3://{rig.bucket}/direct/comet notes.md", f"s3://{rig.bucket}/fan/orchard+pears.txt"]
    )
    for job in jobs:
        await rig.finished(job.job_id)
    assert await rig.cited_sources("Who first catalogued Comet Veyra?") == ["direct/comet notes.md"]


async def test_redeliveries_versions_late_events_and_removal(rig: Rig) -> None:
    await rig.created("orchard.txt", ORCHARD)  # a second document, so questions still find something at the end
    etag, vid = await rig.put("zephyr.md", ZEPHYR)
    first = s3_event(rig.bucket, "zephyr.md", eTag=etag, versionId=vid, sequencer=sequencer())
    # The same event three times, two of them while the first run may still be going: one run.
    starts = [(await rig.send(first)).jobs[0] for _ in range(3)]
    assert len({j.job_id for j in starts}) == 1 and [j.duplicate for j in starts] == [False, True, True]
    v1 = await rig.finished(starts[0].job_id)
    assert v1["outcome"] == "indexed"
    again = (await rig.send(first)).jobs[0]  # after it finished: the same job, marked duplicate (and unchanged)
    assert again.job_id == starts[0].job_id and again.duplicate and again.unchanged
    runs = [w async for w in rig.flow.temporal.list_workflows(f"WorkflowId = '{again.job_id}'")]
    assert len(runs) == 1
    assert len((await rig.chunks("zephyr.md"))["ids"]) == v1["chunks"]  # one set of chunks

    # A new version replaces the old one's chunks.
    v2_text = ZEPHYR.replace("Lisbon", "Porto") + "\n\nIts second director was Dr. Rui Salgado."
    second = await rig.created("zephyr.md", v2_text)
    assert second.job_id != starts[0].job_id
    await rig.finished(second.job_id)
    stored = await rig.chunks("zephyr.md")
    versions = {m["version"] for m in stored["metadatas"]}
    assert versions == {(await rig.store.head(f"s3://{rig.bucket}/zephyr.md")).version}
    assert all("Lisbon" not in d for d in stored["documents"]) and any("Porto" in d for d in stored["documents"])

    # The first version's event, delivered late: ignored (its sequencer is older).
    late = (await rig.send(first)).ignored
    assert late and "out of order" in late[0].reason

    # Removal: the chunks go and are no longer cited; its redelivery is the same job; a late create is ignored.
    removal = s3_event(rig.bucket, "zephyr.md", name="ObjectRemoved:DeleteMarkerCreated", sequencer=sequencer())
    (removed,) = (await rig.send(removal)).jobs
    assert (await rig.finished(removed.job_id))["outcome"] == IngestOutcome.REMOVED.value
    assert not (await rig.chunks("zephyr.md"))["ids"]
    assert "zephyr.md" not in await rig.cited_sources("Who commissioned the Zephyr reactor?")
    assert (await rig.send(removal)).jobs[0].job_id == removed.job_id
    assert "out of order" in (await rig.send(first)).ignored[0].reason


async def test_a_then_b_then_a_reindexes_a_and_collections_are_independent(rig: Rig, unique: str) -> None:
    s3 = await rig.store.s3()
    await s3.create_bucket(Bucket=f"plain-{unique}")  # unversioned: the version is the ETag (the content)
    plain = Rig(rig.flow, rig.store, rig.index, f"plain-{unique}", rig.collection)
    a1 = await plain.created("doc.md", ZEPHYR)
    await plain.finished(a1.job_id)
    b = await plain.created("doc.md", ORCHARD)
    await plain.finished(b.job_id)
    a2 = await plain.created("doc.md", ZEPHYR)  # A again: same ETag as a1, but the index holds B
    assert a2.job_id not in (a1.job_id, b.job_id) and not a2.unchanged
    await plain.finished(a2.job_id)
    assert all("Zephyr" in d for d in (await plain.chunks("doc.md"))["documents"])

    etag, _ = await plain.put("doc.md", ZEPHYR)  # unchanged content, another collection: its own job
    other = (await plain.send(s3_event(plain.bucket, "doc.md", eTag=etag), collection=f"other-{unique}")).jobs[0]
    assert other.job_id != a2.job_id and not other.unchanged
    await plain.finished(other.job_id)


async def test_unsupported_and_disallowed_objects_are_ignored_with_reasons(rig: Rig) -> None:
    body = s3_event(rig.bucket, "photo.jpg", eTag="e1")
    accepted = await rig.flow.ingest_events(parse_event_body(body), rig.collection)
    assert not accepted.jobs and "unsupported file type" in accepted.ignored[0].reason
    body = s3_event("elsewhere", "notes.md", eTag="e1")
    accepted = await rig.flow.ingest_events(parse_event_body(body), rig.collection, allowed_buckets=[rig.bucket])
    assert not accepted.jobs and "GENAI_FLOW_ALLOWED_BUCKETS" in accepted.ignored[0].reason


async def test_cli_ingests_an_s3_prefix_and_the_client_one_uri(rig: Rig, unique: str) -> None:
    from starter.ingest_paths import IngestReport
    from tests.test_cli_answer import cli

    await rig.put("shelf/a b.md", ZEPHYR)
    await rig.put("shelf/sub/orchard+.txt", ORCHARD)
    await rig.put("shelf/.hidden.md", COMET)
    await rig.put("other/comet.md", COMET)
    code, out, err = await cli(
        rig.flow.settings, "ingest", f"s3://{rig.bucket}/shelf/", "--collection", rig.collection, "--wait", "--json"
    )
    assert code == 0, err
    report = IngestReport.model_validate_json(out)
    assert sorted(i.result["uri"] for i in report.jobs if i.result) == [
        f"s3://{rig.bucket}/shelf/a b.md",
        f"s3://{rig.bucket}/shelf/sub/orchard+.txt",
    ]
    assert [p.path for p in report.ignored] == ["shelf/.hidden.md"]
    job = await rig.flow.ingest_uri(f"s3://{rig.bucket}/other/comet.md", rig.collection)
    assert isinstance(job, IngestJob)
    await rig.finished(job.job_id)
    assert (await rig.flow.ingest_uri(f"s3://{rig.bucket}/other/comet.md", rig.collection)).unchanged  # type: ignore[union-attr]
