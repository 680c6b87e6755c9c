"""Progress events: one bounded Redis Stream per job; Redis trouble never fails the publisher."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio
from temporalio.testing import ActivityEnvironment

from activities.events import STREAM_MAXLEN, EventActivities, EventPublisher, TokenBatcher
from runtime.keys import RedisKeys
from runtime.processes import free_port
from runtime.redis import redis_client
from runtime.settings import Settings
from schemas.events import EventType, ProgressEvent, PublishEventInput


async def read(
    isolated_redis: redis.asyncio.Redis, isolated_settings: Settings, job_id: str
) -> list[tuple[str, ProgressEvent]]:
    """Every event of a job's stream, with its stream id."""
    entries = await isolated_redis.xrange(RedisKeys.of(isolated_settings).events(job_id))
    return [(entry_id, ProgressEvent.from_stream_fields(fields)) for entry_id, fields in entries]


async def test_publish_round_trips_and_expires(
    isolated_settings: Settings, isolated_redis: redis.asyncio.Redis
) -> None:
    publisher = EventPublisher(isolated_redis, isolated_settings)
    first = await publisher.publish("job-1", EventType.STEP_STARTED, "summarize", {"attempt": 1})
    await publisher.publish("job-1", "step.completed", "summarize", {"usage": {"billed_tokens": 7}})
    events = await read(isolated_redis, isolated_settings, "job-1")
    assert [e.type for _, e in events] == [EventType.STEP_STARTED, EventType.STEP_COMPLETED]
    assert events[0][0] == first
    assert (events[0][1].job_id, events[0][1].step, events[0][1].data) == ("job-1", "summarize", {"attempt": 1})
    assert await isolated_redis.ttl(RedisKeys.of(isolated_settings).events("job-1")) > 0


async def test_a_terminal_event_is_published_once(
    isolated_settings: Settings, isolated_redis: redis.asyncio.Redis
) -> None:
    # A closing activity retried after it published (its completion lost) must not end the stream twice.
    publisher = EventPublisher(isolated_redis, isolated_settings)
    first = await publisher.publish("job-t", EventType.JOB_COMPLETED, data={"billed_tokens": 3})
    again = await publisher.publish("job-t", EventType.JOB_COMPLETED, data={"billed_tokens": 3})
    events = await read(isolated_redis, isolated_settings, "job-t")
    assert [(i, e.type, e.data) for i, e in events] == [(first, EventType.JOB_COMPLETED, {"billed_tokens": 3})]
    assert again is None
    assert await isolated_redis.ttl(RedisKeys.of(isolated_settings).events("job-t")) > 0


async def test_stream_is_bounded(isolated_settings: Settings, isolated_redis: redis.asyncio.Redis) -> None:
    publisher = EventPublisher(isolated_redis, isolated_settings)
    for i in range(1500):
        await publisher.publish("job-long", EventType.TOKEN, "answer", {"delta": str(i)})
    length = await isolated_redis.xlen(RedisKeys.of(isolated_settings).events("job-long"))
    assert STREAM_MAXLEN <= length < STREAM_MAXLEN + 200  # approximate trimming keeps a little more
    events = await read(isolated_redis, isolated_settings, "job-long")
    assert events[-1][1].data == {"delta": "1499"}  # the newest survive


async def test_unknown_type_is_refused(isolated_settings: Settings, isolated_redis: redis.asyncio.Redis) -> None:
    with pytest.raises(ValueError, match=r"step\.exploded"):
        await EventPublisher(isolated_redis, isolated_settings).publish("job-x", "step.exploded")


async def test_redis_down_drops_the_event_without_raising(isolated_settings: Settings) -> None:
    dead = redis_client(isolated_settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"}))
    try:
        assert await EventPublisher(dead, isolated_settings).publish("job-y", EventType.STEP_STARTED, "s") is None
    finally:
        await dead.aclose()
    assert await EventPublisher(None, isolated_settings).publish("job-y", EventType.STEP_STARTED, "s") is None


async def test_token_batcher_batches_by_time(isolated_settings: Settings, isolated_redis: redis.asyncio.Redis) -> None:
    batcher = TokenBatcher(EventPublisher(isolated_redis, isolated_settings), "job-tok", "answer", interval_s=0.2)
    for word in ["a ", "b ", "c "]:
        await batcher.add(word)  # within one interval: buffered
    await asyncio.sleep(0.25)
    await batcher.add("d ")  # interval passed: one event with all four
    await batcher.add("e")
    await batcher.flush()
    deltas = [e.data["delta"] for _, e in await read(isolated_redis, isolated_settings, "job-tok")]
    assert deltas == ["a b c d ", "e"]


async def test_publish_event_activity(isolated_settings: Settings, isolated_redis: redis.asyncio.Redis) -> None:
    activities = EventActivities(isolated_redis, isolated_settings)
    event = PublishEventInput(job_id="job-z", type=EventType.JOB_DEAD_LETTERED, data={"step": "answer", "attempts": 5})
    entry_id = await ActivityEnvironment().run(activities.publish_event, event)
    events = await read(isolated_redis, isolated_settings, "job-z")
    assert [(i, e.type, e.data["attempts"]) for i, e in events] == [(entry_id, EventType.JOB_DEAD_LETTERED, 5)]
    assert events[0][1].type.terminal
