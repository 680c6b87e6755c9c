"""A large text document: its run's history stays under 1 MB and the worker's peak RSS stays bounded."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from temporalio.client import Client

from bench.documents import write_large_text
from runtime.objectstore import ObjectStore
from runtime.processes import free_port
from runtime.settings import Settings
from schemas.events import EventType
from schemas.ingest import IngestJob
from schemas.jobs import JobStatus
from starter.client import GenAIFlowClient
from tests.helpers import private_settings, progress_events
from workflows.ingest import GROUP_SIZE

LARGE_MB = int(os.environ.get("GENAI_FLOW_TEST_LARGE_MB", "10"))  # B5 ingests 50 MB; `make test` 10 MB
HISTORY_LIMIT = 1_000_000
RSS_LIMIT_MB = 512  # measured 227 MiB at 10 MB; its ~23,500 vectors held whole as Python lists alone take ~400 MiB


def worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    """A worker process of its own, so its peak RSS is the pipeline's alone."""
    env = {
        **os.environ,
        "GENAI_FLOW_TASK_QUEUE_PREFIX": settings.task_queue_prefix,
        "GENAI_FLOW_KEY_PREFIX": settings.key_prefix,
        "GENAI_FLOW_METRICS_PORT": str(free_port()),
        "GENAI_FLOW_LOG_LEVEL": "WARNING",
    }
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "starter.cli", "worker"], env=env, stdout=out, stderr=out)


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set size (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


async def test_large_document_history_stays_small(
    servers: dict[str, str], client: Client, unique: str, tmp_path: Path
) -> None:
    settings = private_settings(unique)
    doc = write_large_text(tmp_path / "large.txt", LARGE_MB)
    proc = worker(settings, tmp_path / "worker.log")
    try:
        flow = GenAIFlowClient(client, settings)
        async with ObjectStore() as store:
            job = await flow.ingest((await store.head(str(doc))).as_version(), f"large-{unique}")
        assert isinstance(job, IngestJob)
        info = await asyncio.wait_for(flow.wait(job.job_id, poll_s=1.0), 600)
        rss = peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(30)
    assert info.status is JobStatus.COMPLETED, (info.error, (tmp_path / "worker.log").read_text()[-3000:])
    assert info.result is not None and info.result["chunks"] > LARGE_MB * 1000
    history = await flow.handle(job.job_id).fetch_history()
    size = len(history.to_json())
    print(f"\n{LARGE_MB} MB document: {info.result['chunks']} chunks, {len(history.events)} history events, "
          f"history {size / 1000:.0f} kB (JSON), worker peak RSS {rss:.0f} MiB")  # fmt: skip
    assert size < HISTORY_LIMIT
    assert rss < RSS_LIMIT_MB
    # One step event pair per embed group (never per request batch); the groups' `embedded` counts reach the total.
    embeds = [e.data for e in await progress_events(settings, job.job_id)
              if e.type is EventType.STEP_COMPLETED and (e.step or "").startswith("embed#")]  # fmt: skip
    chunks = info.result["chunks"]
    # Keyed by group: a group whose activity Temporal retried (a slow Redis reply on a loaded machine) publishes its
    # completion again, as at-least-once delivery allows; still never one event per request batch.
    groups = {d["group"]: d for d in embeds}
    assert len(groups) == -(-chunks // GROUP_SIZE) and len(embeds) <= 2 * len(groups)
    assert sum(d["chunks"] for d in groups.values()) == chunks
    assert max(d["embedded"] for d in embeds) == chunks and {d["total"] for d in embeds} == {chunks}
