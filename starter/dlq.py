"""Dead-letter queue operations: list (visibility joined with Redis details) and replay as a linked new run."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from runtime.at_rest import at_rest_for
from runtime.deadletters import DeadLetterStore
from runtime.keys import RedisKeys
from runtime.redis import redis_client
from schemas.jobs import JobStarted, Pipeline
from schemas.pipelines import request_model
from schemas.search_attributes import PIPELINE as _PIPELINE
from starter.client import GenAIFlowClient, JobNotFoundError, _quoted


class DeadLetterView(BaseModel):
    """One row of `dlq list`."""

    job_id: str
    pipeline: Pipeline | None
    step: str | None = None
    attempts: int | None = None
    error_type: str | None = None
    last_error: str | None = None
    failed_at: datetime | None = None
    replayed_as: list[str] = []
    details_missing: bool = False


class ReplayError(ValueError):
    """A replay cannot start: no dead letter for the job, or the edited input is invalid."""


class NoDeadLetterError(ReplayError):
    """The job exists but has no dead letter to replay (HTTP 409)."""


async def list_dead_letters(
    client: GenAIFlowClient, limit: int = 100, owner: str | None = None
) -> list[DeadLetterView]:
    """Dead-lettered jobs from visibility (`DeadLettered = true`), joined with their Redis details; with `owner`,
    only that key id's jobs (as the HTTP API lists them)."""
    query = "DeadLettered = true" if owner is None else f"DeadLettered = true AND GenAIOwner = {_quoted(owner)}"
    redis = redis_client(client.settings)
    store = DeadLetterStore(redis, RedisKeys.of(client.settings), at_rest_for(client.settings.encryption_entries))
    views: list[DeadLetterView] = []
    try:
        async for wf in client.temporal.list_workflows(query, limit=limit):
            entry = await store.load(wf.id)
            pipeline = wf.typed_search_attributes.get(_PIPELINE)
            if entry is None:
                views.append(DeadLetterView(job_id=wf.id, pipeline=_pipeline(pipeline), details_missing=True))
            else:
                views.append(DeadLetterView(**entry.model_dump(exclude={"input"})))
    finally:
        await redis.aclose()
    return views


async def replay(
    client: GenAIFlowClient, job_id: str, edited_input: dict[str, Any] | None = None, owner: str | None = None
) -> JobStarted:
    """Start a new run linked to a dead-lettered job, with its original input or an edited one (owned by `owner`,
    default the local user)."""
    redis = redis_client(client.settings)
    store = DeadLetterStore(redis, RedisKeys.of(client.settings), at_rest_for(client.settings.encryption_entries))
    try:
        entry = await store.load(job_id)
        if entry is None:
            await client.status(job_id, with_steps=False)  # raises JobNotFoundError for an unknown id
            raise NoDeadLetterError(f"job {job_id} has no dead letter to replay")
        try:
            request = request_model(entry.pipeline).model_validate(edited_input or entry.input)
        except ValidationError as err:
            raise ReplayError(f"invalid input for {entry.pipeline.value}: {err}") from None
        new_id = f"{job_id}-replay-{len(entry.replayed_as) + 1}"
        started = await client.start(entry.pipeline, request, job_id=new_id, owner=owner, replay_of=job_id)
        entry.replayed_as.append(new_id)
        await store.save(entry)
        return started
    finally:
        await redis.aclose()


def _pipeline(value: str | None) -> Pipeline | None:
    try:
        return Pipeline(value) if value else None
    except ValueError:
        return None


__all__ = ["DeadLetterView", "JobNotFoundError", "NoDeadLetterError", "ReplayError", "list_dead_letters", "replay"]
