"""The one parser of S3 event notifications, for every source: the gateway's webhook, the SQS poller, tests.

Accepts the AWS S3 event notification JSON, MinIO's webhook payload (the same `Records` with `s3:`-prefixed event
names, plus `EventName`/`Key`), either of them inside an SNS envelope (`Type: Notification`), an SNS
SubscriptionConfirmation (returned for the caller to log or confirm, never followed here) and the S3 `s3:TestEvent`.
Keys arrive URL-encoded with `+` for a space and are decoded. `ObjectCreated:*` asks for ingestion, `ObjectRemoved:*`
for removal; anything else is ignored with a reason. A body that is none of these raises `EventParseError` with one;
one with more than MAX_RECORDS records raises `TooManyRecordsError` (S3 itself sends one record per notification).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_plus

from pydantic import ValidationError

from schemas.s3events import (
    EventAction,
    IgnoredEvent,
    ObjectEvent,
    ParsedEvents,
    S3EventNotification,
    S3EventRecord,
    SnsEnvelope,
    SnsMessageType,
    SnsSubscription,
)

MAX_SNS_DEPTH = 1  # SNS wraps once; an envelope inside an envelope is not something S3 sends
MAX_RECORDS = 50  # records per notification: the webhook answers within a second up to this many


class EventParseError(ValueError):
    """The body is not an S3 event notification (nor one inside an SNS envelope); the message says why."""


class TooManyRecordsError(EventParseError):
    """The notification carries more than MAX_RECORDS records (the sender should split it)."""


def parse_event_body(body: bytes | str | dict[str, Any]) -> ParsedEvents:
    """Objects to ingest or remove, events ignored with reasons, and any SNS subscription, from one request body."""
    return _parse(_as_dict(body), depth=0)


def _as_dict(body: bytes | str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(body, dict):
        return body
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise EventParseError(f"body is not JSON: {err}") from None
    if not isinstance(data, dict):
        raise EventParseError(f"body is a JSON {type(data).__name__}, not an object")
    return data


def _parse(data: dict[str, Any], depth: int) -> ParsedEvents:
    if "Type" in data and "TopicArn" in data:
        return _sns(data, depth)
    if data.get("Event") == "s3:TestEvent":
        key = str(data.get("Bucket", ""))
        return ParsedEvents(ignored=[IgnoredEvent(key=key, reason="s3:TestEvent (sent when notifications are set up)")])
    if "Records" not in data:
        raise EventParseError(
            "not an S3 event notification: no `Records` (expected the AWS/MinIO format or an SNS envelope)"
        )
    records = data["Records"]
    if isinstance(records, list) and len(records) > MAX_RECORDS:
        raise TooManyRecordsError(
            f"{len(records)} records in one notification; at most {MAX_RECORDS} are accepted (send them in batches)"
        )
    try:
        notification = S3EventNotification.model_validate(data)
    except ValidationError as err:
        raise EventParseError(f"malformed S3 event notification: {_first_error(err)}") from None
    parsed = ParsedEvents()
    for record in notification.records:
        _add_record(parsed, record)
    return parsed


def _sns(data: dict[str, Any], depth: int) -> ParsedEvents:
    try:
        envelope = SnsEnvelope.model_validate(data)
    except ValidationError as err:
        raise EventParseError(f"malformed SNS message: {_first_error(err)}") from None
    if envelope.type is SnsMessageType.SUBSCRIPTION_CONFIRMATION:
        if not envelope.subscribe_url:
            raise EventParseError("SNS SubscriptionConfirmation without a SubscribeURL")
        subscription = SnsSubscription(
            topic_arn=envelope.topic_arn, subscribe_url=envelope.subscribe_url, message_id=envelope.message_id
        )
        reason = "SNS SubscriptionConfirmation (no object event)"
        return ParsedEvents(subscription=subscription, ignored=[IgnoredEvent(key=envelope.topic_arn, reason=reason)])
    if envelope.type is SnsMessageType.UNSUBSCRIBE_CONFIRMATION:
        return ParsedEvents(ignored=[IgnoredEvent(key=envelope.topic_arn, reason="SNS UnsubscribeConfirmation")])
    if depth >= MAX_SNS_DEPTH:
        raise EventParseError("an SNS envelope inside an SNS envelope")
    try:
        inner = _as_dict(envelope.message)
    except EventParseError as err:
        raise EventParseError(f"SNS Message: {err}") from None
    return _parse(inner, depth + 1)


def _add_record(parsed: ParsedEvents, record: S3EventRecord) -> None:
    key = unquote_plus(record.s3.object.key)
    name = record.event_name.removeprefix("s3:")
    if name.startswith("ObjectCreated:"):
        action = EventAction.INGEST
    elif name.startswith("ObjectRemoved:"):
        action = EventAction.REMOVE
    else:
        parsed.ignored.append(IgnoredEvent(key=key, reason=f"{name} is neither ObjectCreated:* nor ObjectRemoved:*"))
        return
    if not key or key.endswith("/"):
        parsed.ignored.append(IgnoredEvent(key=key, reason="a folder marker, not a document"))
        return
    obj = record.s3.object
    parsed.objects.append(
        ObjectEvent(
            action=action,
            event_name=name,
            bucket=record.s3.bucket.name,
            key=key,
            version_id=obj.version_id or None,
            etag=(obj.etag or "").strip('"') or None,
            sequencer=obj.sequencer or None,
            size=obj.size,
            event_time=record.event_time,
        )
    )


def _first_error(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return f"{where}: {first['msg']}"


def sequencer_older(candidate: str | None, current: str | None) -> bool:
    """True when an event with sequencer `candidate` happened before one with `current`.

    S3 sequencers are hex strings of varying length: right-pad the shorter with zeros, then compare (AWS docs).
    Without both there is no order to compare (a listing or a local file): never older.
    """
    if candidate is None or current is None:
        return False
    width = max(len(candidate), len(current))
    return candidate.upper().ljust(width, "0") < current.upper().ljust(width, "0")
