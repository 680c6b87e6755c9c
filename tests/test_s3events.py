"""The one S3 event parser: AWS, MinIO and SNS-wrapped bodies, decoded keys, ignored and malformed input."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runtime.s3events import EventParseError, parse_event_body, sequencer_older
from schemas.s3events import EventAction


def record(name: str, key: str, **obj: Any) -> dict[str, Any]:
    """One AWS-format record."""
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventTime": "2026-11-25T04:00:00.000Z",
        "eventName": name,
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": "docs-bucket"}, "object": {"key": key, **obj}},
    }


def test_aws_created_and_removed_records_with_encoded_keys() -> None:
    body = {
        "Records": [
            record("ObjectCreated:Put", "reports/Q3+plan%C3%A9+%2B1.md", size=12, eTag='"abc"', sequencer="0A1"),
            record("ObjectRemoved:Delete", "old+notes.txt", sequencer="0A2"),
            record("ObjectRestore:Completed", "x.md"),
        ]
    }
    parsed = parse_event_body(json.dumps(body).encode())
    created, removed = parsed.objects
    assert created.action is EventAction.INGEST and created.key == "reports/Q3 plané +1.md"
    assert created.uri == "s3://docs-bucket/reports/Q3 plané +1.md"
    assert created.etag == "abc" and created.version == "abc" and created.sequencer == "0A1"
    assert removed.action is EventAction.REMOVE and removed.key == "old notes.txt" and removed.version == "0A2"
    assert [i.key for i in parsed.ignored] == ["x.md"]
    assert "neither ObjectCreated" in parsed.ignored[0].reason


def test_version_id_wins_over_etag() -> None:
    parsed = parse_event_body({"Records": [record("ObjectCreated:Post", "a.md", eTag="e1", versionId="v9")]})
    assert parsed.objects[0].version == "v9"


def test_minio_webhook_payload() -> None:
    body = {
        "EventName": "s3:ObjectCreated:Put",
        "Key": "docs-bucket/a b.md",
        "Records": [record("s3:ObjectCreated:Put", "a+b.md", eTag="e", sequencer="17F")],
    }
    (obj,) = parse_event_body(body).objects
    assert obj.action is EventAction.INGEST and obj.key == "a b.md" and obj.event_name == "ObjectCreated:Put"


def test_sns_envelope_and_subscription_confirmation() -> None:
    inner = {"Records": [record("ObjectCreated:Put", "n%C3%BC.md", eTag="e")]}
    envelope = {
        "Type": "Notification",
        "MessageId": "m1",
        "TopicArn": "arn:aws:sns:us-east-1:1:t",
        "Message": json.dumps(inner),
        "Timestamp": "2026-11-25T04:00:00Z",
    }
    assert parse_event_body(envelope).objects[0].key == "nü.md"
    confirm = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "m2",
        "TopicArn": "arn:aws:sns:us-east-1:1:t",
        "Message": "You have chosen to subscribe",
        "Token": "tok",
        "SubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=tok",
    }
    parsed = parse_event_body(confirm)
    assert parsed.subscription is not None and parsed.subscription.subscribe_url.startswith("https://sns.")
    assert not parsed.objects and "SubscriptionConfirmation" in parsed.ignored[0].reason


def test_test_event_and_folder_markers_are_ignored() -> None:
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "docs-bucket"}
    assert "TestEvent" in parse_event_body(test_event).ignored[0].reason
    parsed = parse_event_body({"Records": [record("ObjectCreated:Put", "folder/", size=0)]})
    assert not parsed.objects and "folder" in parsed.ignored[0].reason


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "JSON list"),
        (b'{"hello": 1}', "no `Records`"),
        (b'{"Records": [{"eventName": "ObjectCreated:Put"}]}', "Records.0.s3"),
        (
            json.dumps({"Type": "Notification", "MessageId": "m", "TopicArn": "t", "Message": "oops"}).encode(),
            "SNS Message: body is not JSON",
        ),
        (
            json.dumps({"Type": "Bogus", "MessageId": "m", "TopicArn": "t", "Message": "{}"}).encode(),
            "malformed SNS message",
        ),
    ],
)
def test_malformed_bodies_say_why(body: bytes, reason: str) -> None:
    with pytest.raises(EventParseError, match=reason.replace("`", ".").replace("(", r"\(")):
        parse_event_body(body)


def test_sequencer_order_pads_on_the_right() -> None:
    assert sequencer_older("0055AED6DCD90281E5", "0055AED6DCD90281E6")
    assert sequencer_older("0055AED6DCD9028", "0055AED6DCD90281E5")  # shorter: right-padded with zeros
    assert not sequencer_older("0055AED6DCD90281E5", "0055AED6DCD90281E5")
    assert not sequencer_older(None, "01") and not sequencer_older("01", None)
