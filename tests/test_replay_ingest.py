"""IngestDocument replays: recorded histories (indexed, dead-lettered, removed) and fresh runs, with the Replayer.

Record again (after a deliberate, patched change) with GENAI_FLOW_RECORD_HISTORIES=1. Documents and claims live in
moto's S3 here, so the recorded payloads name buckets, not paths of the recording machine.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from runtime.objectstore import ObjectStore
from schemas.ingest import IngestJob, ObjectVersion
from schemas.jobs import JobStatus
from tests.helpers import private_settings, running_workers
from tests.ingest_docs import corrupt_pdf_bytes
from tests.test_replay import HISTORIES, scrubbed
from workflows.ingest import IngestDocument


def replayer() -> Replayer:
    """A replayer for the ingestion workflow with the project's data converter."""
    return Replayer(workflows=[IngestDocument], data_converter=pydantic_data_converter)


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("ingest-*.json")), ids=lambda p: p.stem)
async def test_recorded_ingest_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


def test_recorded_ingest_histories_exist() -> None:
    assert {p.stem for p in HISTORIES.glob("ingest-*.json")} >= {"ingest-indexed", "ingest-dead_lettered",
                                                                   "ingest-removed"}  # fmt: skip


async def test_fresh_ingest_runs_replay(aws: str, client: Client, unique: str) -> None:
    bucket = f"replay-{unique}"
    settings = private_settings(unique).model_copy(update={"claims_url": f"s3://{bucket}/claims"})
    async with running_workers(client, settings) as flow, ObjectStore() as store:
        await (await store.s3()).create_bucket(Bucket=bucket)
        good = await store.put(f"s3://{bucket}/docs/zephyr.md", b"The Zephyr reactor was commissioned in 1987.")
        bad = await store.put(f"s3://{bucket}/docs/broken.pdf", corrupt_pdf_bytes())
        collection = f"replay-{unique}"
        jobs: dict[str, str] = {}
        for name, info in (("indexed", good), ("dead_lettered", bad)):
            started = await flow.ingest(info.as_version(), collection)
            assert isinstance(started, IngestJob)
            jobs[name] = started.job_id
        statuses = {name: (await asyncio.wait_for(flow.wait(job), 120)).status for name, job in jobs.items()}
        removal = ObjectVersion(uri=good.uri, version="deleted", sequencer="00FF")
        removed = await flow.remove(removal, collection)
        assert isinstance(removed, IngestJob)
        jobs["removed"] = removed.job_id
        statuses["removed"] = (await asyncio.wait_for(flow.wait(removed.job_id), 120)).status
    assert statuses == {"indexed": JobStatus.COMPLETED, "dead_lettered": JobStatus.DEAD_LETTERED,
                        "removed": JobStatus.COMPLETED}  # fmt: skip
    for name, job in jobs.items():
        history = await client.get_workflow_handle(job).fetch_history()
        result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, (name, result.replay_failure)
        if os.environ.get("GENAI_FLOW_RECORD_HISTORIES"):
            (HISTORIES / f"ingest-{name}.json").write_text(scrubbed(history.to_json()))
