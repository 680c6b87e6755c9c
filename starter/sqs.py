"""The SQS poller (S3 → SQS, or S3 → SNS → SQS): long polling, one start per object event, delete only once accepted.

A message is deleted after every start it asked for was accepted by Temporal (a duplicate counts: that run exists).
A message that cannot be parsed, or whose starts failed, stays: SQS delivers it again after its visibility timeout,
and the queue's redrive policy moves it to a dead-letter queue after maxReceiveCount tries (docs/ingestion.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from runtime.logging import get_logger
from runtime.s3events import EventParseError, parse_event_body
from schemas.ingest import IngestAccepted
from starter.client import GenAIFlowClient

log = get_logger(__name__)

LONG_POLL_S = 20  # SQS's maximum wait: an idle poller makes three requests a minute


class SqsMessageResult(BaseModel):
    """What one SQS message led to."""

    message_id: str
    accepted: IngestAccepted | None = None
    error: str | None = None
    deleted: bool = False


async def poll_sqs(
    client: GenAIFlowClient,
    queue_url: str,
    collection: str | None = None,
    *,
    wait_s: int = LONG_POLL_S,
    stop: asyncio.Event | None = None,
    max_polls: int | None = None,
    on_message: Callable[[SqsMessageResult], None] | None = None,
) -> int:
    """Poll until stopped (or for max_polls receives); returns how many messages were deleted."""
    import aioboto3  # heavy: only the poller needs it

    deleted = polls = 0
    async with aioboto3.Session().client("sqs") as sqs:
        while not (stop is not None and stop.is_set()) and (max_polls is None or polls < max_polls):
            polls += 1
            response = await sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_s, AttributeNames=["All"]
            )
            for message in response.get("Messages", []):
                result = await handle_message(client, sqs, queue_url, message, collection)
                deleted += result.deleted
                if on_message is not None:
                    on_message(result)
    return deleted


async def handle_message(
    client: GenAIFlowClient, sqs: Any, queue_url: str, message: dict[str, Any], collection: str | None
) -> SqsMessageResult:
    """Start what one message asks for; delete it only when every start was accepted."""
    result = SqsMessageResult(message_id=message.get("MessageId", ""))
    try:
        parsed = parse_event_body(message.get("Body", ""))
    except EventParseError as err:
        result.error = f"not an S3 event (left for the queue's redrive policy): {err}"
        log.warning("sqs message rejected", message_id=result.message_id, error=str(err))
        return result
    if parsed.subscription is not None:
        log.info(
            "sns subscription confirmation seen",
            topic=parsed.subscription.topic_arn,
            subscribe_url=parsed.subscription.subscribe_url,
        )
    try:
        result.accepted = await client.ingest_events(parsed, collection)
    except Exception as err:  # Temporal or Redis away: keep the message, it comes back
        result.error = f"{type(err).__name__}: {err}"
        log.warning("sqs message kept: start failed", message_id=result.message_id, error=result.error)
        return result
    await sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    result.deleted = True
    return result
