"""Helpers for pipeline tests: in-process workers on a private queue set, a tiny corpus, the simulator ledger."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from runtime.keys import RedisKeys
from runtime.redis import redis_client
from runtime.settings import Settings, get_settings
from schemas.answer import RetrievedChunk
from schemas.events import ProgressEvent
from schemas.retrieval import RetrieveResult
from schemas.sim import SimLedger

if TYPE_CHECKING:
    from starter.ingest_paths import IngestReport
from starter.client import GenAIFlowClient


def private_settings(unique: str) -> Settings:
    """Settings with this test's own task queues and Redis keys, so tests never see each other's work."""
    return get_settings().model_copy(update={"task_queue_prefix": f"t{unique}-", "key_prefix": f"t{unique}"})


@asynccontextmanager
async def running_workers(client: Client, settings: Settings) -> AsyncIterator[GenAIFlowClient]:
    """Every worker of the registry, in-process, on the settings' queues; yields a client bound to them."""
    from workers.registry import ALL_QUEUES, build_workers, open_deps

    async with open_deps(settings) as deps, AsyncExitStack() as stack:
        for worker in build_workers(client, settings, ALL_QUEUES, deps):
            await stack.enter_async_context(worker)
        yield GenAIFlowClient(client, settings)


async def index_facts(tmp: Path, collection: str, settings: Settings) -> IngestReport:
    """Ingest the sample documents (zephyr.md, orchard.md, comet.md) into collection through IngestDocument."""
    from runtime.temporal import connect
    from starter.cli.corpus import index_samples

    client = await connect(settings)
    async with running_workers(client, settings) as flow:
        return await index_samples(flow, tmp, collection)


def is_chunk_of(chunk_id: str, source: str, ordinal: int = 0) -> bool:
    """True when chunk_id is chunk `ordinal` of the document cited as `source` (`<source>@<uri tag>#<n>`)."""
    name, _, rest = chunk_id.partition("@")
    return name == source and rest.endswith(f"#{ordinal}")


async def sim_ledger(sim_url: str, prefix: str | None = None) -> SimLedger:
    """The simulator's ledger, optionally only keys starting with prefix (e.g. `<job id>/`)."""
    params = {"prefix": prefix} if prefix else {}
    async with httpx.AsyncClient(base_url=sim_url, timeout=10) as http:
        response = await http.get("/sim/ledger", params=params)
        response.raise_for_status()
        return SimLedger.model_validate(response.json())


async def arm_sim_fault(sim_url: str, match: str, marker: str) -> None:
    """Make the simulator treat every request containing `match` as if it carried `[[sim:<marker>]]` (test-only:
    document text is data, so this is how a test fails the calls that carry a document's chunks)."""
    async with httpx.AsyncClient(base_url=sim_url, timeout=10) as http:
        (await http.post("/sim/faults", json={"match": match, "marker": marker})).raise_for_status()


async def progress_events(settings: Settings, job_id: str) -> list[ProgressEvent]:
    """Every progress event of a job, oldest first, read from its Redis stream."""
    redis = redis_client(settings)
    try:
        entries = await redis.xrange(RedisKeys.of(settings).events(job_id))
    finally:
        await redis.aclose()
    return [ProgressEvent.from_stream_fields(fields) for _id, fields in entries]


async def retrieved_chunks(flow: GenAIFlowClient, job_id: str) -> list[RetrievedChunk]:
    """The chunks the job's retrieve step returned, read from its history."""
    scheduled: set[int] = set()
    async for event in flow.handle(job_id).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            if event.activity_task_scheduled_event_attributes.activity_type.name == "retrieve":
                scheduled.add(event.event_id)
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            attrs = event.activity_task_completed_event_attributes
            if attrs.scheduled_event_id in scheduled:
                [result] = await flow.temporal.data_converter.decode(attrs.result.payloads, [RetrieveResult])
                return list(result.chunks)
    raise AssertionError(f"{job_id}: no completed retrieve step")
