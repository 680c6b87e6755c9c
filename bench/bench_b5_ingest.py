"""B5: ingestion pages/s through IngestDocument / the same extract → chunk → embed → index in one plain process.

Both sides ingest the same 50 MB text document (pages = characters / 3,000) against one private stack
(bench/stack.py): the same simulator (zero latency), the same Chroma, the same Redis. The subject is the durable
pipeline with its workers in this process: extract_text and chunk on genai-io writing claims, embed_chunks on
genai-inference (bounded fan-out, every request batch behind the never-pay-twice lock), index_chunks under the
document lock. The baseline calls the same library functions directly (extract, chunk_spans, embed_texts with the
same batch size and parallelism, VectorIndex.upsert) with nothing in between. The sides alternate; the median of
ROUNDS runs each is recorded, with the run's history size and event count in the details.
Run: `python -m bench.bench_b5_ingest [--mb 50 --rounds 1]` (~6 min at 50 MB on 2 cores).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from activities.chunking import chunk_spans
from activities.embeddings import EMBED_BATCH, embed_texts
from activities.extraction import extract
from activities.llm import make_llm
from bench.documents import CHARS_PER_PAGE, write_large_text
from bench.harness import interleaved, median, record
from bench.stack import BenchStack, bench_stack, in_process_workers
from runtime.objectstore import ObjectStore
from runtime.vectorindex import IndexedChunk, VectorIndex
from schemas.ingest import IngestJob
from schemas.jobs import JobStatus
from starter.client import GenAIFlowClient
from workflows.ingest import EMBED_PARALLELISM


async def plain_ingest(stack: BenchStack, path: Path, collection: str) -> int:
    """The baseline: read, extract, chunk, embed (same batches, same parallelism), upsert; returns chunks."""
    extracted = extract(await asyncio.to_thread(path.read_bytes), path.name)
    spans = chunk_spans(extracted.text)
    texts = [s.text for s in spans]
    llm = make_llm(stack.settings)
    gate = asyncio.Semaphore(EMBED_PARALLELISM)
    key = f"plain-{uuid.uuid4().hex}"

    async def batch(start: int) -> np.ndarray:
        async with gate:
            vectors, _ = await embed_texts(llm, texts[start : start + EMBED_BATCH], stack.settings.embed_model,
                                           f"{key}/{start}")  # fmt: skip
            # float32 rows at once, as the pipeline's claims hold them: no 100k lists of Python floats to carry.
            return np.asarray(vectors, dtype=np.float32)

    try:
        parts = await asyncio.gather(*(batch(s) for s in range(0, len(texts), EMBED_BATCH)))
    finally:
        await llm.close()
    vectors = np.concatenate(parts)
    index = VectorIndex(stack.settings)
    rows = [
        IndexedChunk(chunk_id=f"{path.name}#{n}", text=s.text, vector=v,
                     metadata={"source": path.name, "start": s.start, "end": s.end})
        for n, (s, v) in enumerate(zip(spans, vectors, strict=True))
    ]  # fmt: skip
    return await index.upsert(collection, rows)


class PipelineSide:
    """Ingests the document through IngestDocument into a fresh collection per run; keeps the last run's figures."""

    def __init__(self, stack: BenchStack, path: Path) -> None:
        self.stack = stack
        self.path = path
        self.flow = GenAIFlowClient(stack.client, stack.settings)
        self.details: dict[str, Any] = {}

    async def run(self) -> None:
        """One ingestion, start to completion."""
        async with ObjectStore() as store:
            version = (await store.head(str(self.path))).as_version()
        job = await self.flow.ingest(version, f"b5-{uuid.uuid4().hex[:10]}")
        assert isinstance(job, IngestJob), job
        info = await self.flow.wait(job.job_id, poll_s=1.0)
        if info.status is not JobStatus.COMPLETED:
            raise RuntimeError(f"ingestion failed: {info.error}")
        history = await self.flow.handle(job.job_id).fetch_history()
        result = info.result or {}
        self.details = {"chunks": result.get("chunks"), "history_events": len(history.events),
                        "history_json_bytes": len(history.to_json())}  # fmt: skip


async def main(megabytes: float, rounds: int) -> None:
    """Measure both sides and record B5."""
    async with bench_stack("b5") as stack, in_process_workers(stack.client, stack.settings):
        workdir = Path(tempfile.mkdtemp(prefix="b5-doc-"))
        path = write_large_text(workdir / "large.txt", megabytes)
        pages = len(await asyncio.to_thread(path.read_text)) / CHARS_PER_PAGE
        subject = PipelineSide(stack, path)
        plain_chunks: list[int] = []

        async def baseline() -> None:
            plain_chunks.append(await plain_ingest(stack, path, f"b5-plain-{uuid.uuid4().hex[:10]}"))

        print(f"{megabytes} MB ({pages:.0f} pages), {rounds} round(s) per side", file=sys.stderr, flush=True)
        started = time.monotonic()
        plain_s, pipeline_s = await interleaved([baseline, subject.run], rounds=rounds, warmup=0)
        print(f"measured in {time.monotonic() - started:.0f} s", file=sys.stderr)
        path.unlink()
    record(
        "b5_ingest_throughput",
        ">= 0.5",
        baseline=pages / median(plain_s),
        value=pages / median(pipeline_s),
        unit="pages/s",
        details={
            "document_mb": megabytes,
            "pages": round(pages),
            "chars_per_page": CHARS_PER_PAGE,
            "pipeline_s": [round(s, 1) for s in pipeline_s],
            "plain_s": [round(s, 1) for s in plain_s],
            "plain_chunks": plain_chunks[-1] if plain_chunks else None,
            "embed_parallelism": EMBED_PARALLELISM,
            **subject.details,
        },
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=50.0, help="document size in MB (default 50)")
    parser.add_argument("--rounds", type=int, default=1, help="runs per side (default 1)")
    args = parser.parse_args()
    asyncio.run(main(args.mb, args.rounds))
