"""S3 event notifications as they arrive (AWS, MinIO's webhook, inside an SNS envelope) and what they mean to us.

The wire models accept what AWS and MinIO send and ignore fields we do not use; `runtime/s3events.py` turns a body
into `ParsedEvents`: objects to ingest or remove, events ignored with a reason, and an SNS subscription to confirm.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class S3Bucket(_Wire):
    """`s3.bucket` of a record."""

    name: str


class S3Object(_Wire):
    """`s3.object` of a record: the key arrives URL-encoded (`+` for a space)."""

    key: str
    size: int | None = None
    etag: str | None = Field(None, alias="eTag")
    version_id: str | None = Field(None, alias="versionId")
    sequencer: str | None = None


class S3Entity(_Wire):
    """`s3` of a record."""

    bucket: S3Bucket
    object: S3Object


class S3EventRecord(_Wire):
    """One record of an S3 event notification (AWS `ObjectCreated:Put`; MinIO `s3:ObjectCreated:Put`)."""

    event_name: str = Field(alias="eventName")
    event_time: datetime | None = Field(None, alias="eventTime")
    event_source: str | None = Field(None, alias="eventSource")
    s3: S3Entity


class S3EventNotification(_Wire):
    """The S3 event notification body (MinIO adds `EventName` and `Key` beside the same `Records`)."""

    records: list[S3EventRecord] = Field(alias="Records")


class SnsMessageType(StrEnum):
    """The SNS HTTP(S) message types."""

    NOTIFICATION = "Notification"
    SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
    UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"


class SnsEnvelope(_Wire):
    """An SNS message delivered over HTTP(S) or into SQS without raw delivery; `Message` holds the S3 event."""

    type: SnsMessageType = Field(alias="Type")
    message_id: str = Field(alias="MessageId")
    topic_arn: str = Field(alias="TopicArn")
    message: str = Field(alias="Message")
    subscribe_url: str | None = Field(None, alias="SubscribeURL")
    token: str | None = Field(None, alias="Token")


class EventAction(StrEnum):
    """What an object event asks of the ingestion pipeline."""

    INGEST = "ingest"
    REMOVE = "remove"


class ObjectEvent(BaseModel):
    """One object created or removed, key decoded; `version` is the identity the index compares."""

    action: EventAction
    event_name: str
    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    sequencer: str | None = None
    size: int | None = None
    event_time: datetime | None = None

    @property
    def uri(self) -> str:
        """`s3://bucket/key` (the key as stored, not URL-encoded)."""
        return f"s3://{self.bucket}/{self.key}"

    @property
    def version(self) -> str | None:
        """The S3 versionId, else the ETag (content identity), else the sequencer (removals carry no ETag)."""
        return self.version_id or self.etag or self.sequencer


class IgnoredEvent(BaseModel):
    """An event (or object) left alone, with the reason a person reads."""

    key: str
    reason: str


class SnsSubscription(BaseModel):
    """An SNS SubscriptionConfirmation: the URL to visit (only ever on the AWS SNS host) to confirm."""

    topic_arn: str
    subscribe_url: str
    message_id: str


class ParsedEvents(BaseModel):
    """Everything one request body held."""

    objects: list[ObjectEvent] = Field(default_factory=list)
    ignored: list[IgnoredEvent] = Field(default_factory=list)
    subscription: SnsSubscription | None = None
