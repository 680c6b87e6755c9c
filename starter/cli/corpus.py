"""The sample corpus, and ingesting a folder through IngestDocument and waiting for it (demo, tests, benchmarks).

There is one path for documents: this module starts IngestDocument jobs like `genai-flow ingest DIR --wait` does
(workers must be running), so the demo and the tests index exactly as users do.
"""

from __future__ import annotations

from pathlib import Path

from schemas.jobs import JobStatus
from starter.client import GenAIFlowClient
from starter.ingest_paths import IngestReport, start_all, wait_all

# Three short documents with distinct facts: enough for retrieval, citations and entities, indexed in a second.
# Tests and benchmarks use them; so can anyone trying the answer pipeline without a corpus of their own.
SAMPLE_DOCS: dict[str, str] = {
    "zephyr.md": (
        "# The Zephyr reactor\n\nThe Zephyr reactor was commissioned in 1987 by Dr. Amelia Hartwell in Lisbon. "
        "Its coolant is molten fluoride salt.\n\nThe reactor produced 40 megawatts at full power."
    ),
    "orchard.md": (
        "# Harlow orchard\n\nThe Harlow orchard grows Bramley apples and Conference pears. It was planted by "
        "Thomas Greaves in 1911 near Canterbury.\n\nHarvest starts in late September."
    ),
    "comet.md": (
        "# Comet Veyra\n\nComet Veyra returns every 71 years. Astronomer Lucia Moreno first catalogued it from "
        "the Atacama desert.\n\nIts tail is mostly ionised carbon monoxide."
    ),
}


class IngestFailedError(RuntimeError):
    """Some documents of a corpus were not indexed."""


def write_samples(directory: Path) -> Path:
    """Write SAMPLE_DOCS as files into directory; returns it."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in SAMPLE_DOCS.items():
        (directory / name).write_text(text)
    return directory


async def ingest_folder(client: GenAIFlowClient, folder: Path, collection: str) -> IngestReport:
    """Ingest every supported file under folder and wait; IngestFailedError names the documents that failed."""
    report = await wait_all(client, await start_all(client, str(folder), collection))
    failed = [info for info in report.jobs if info.status is not JobStatus.COMPLETED]
    if failed:
        reasons = "; ".join(f"{i.job_id}: {i.error.message if i.error else i.status.value}" for i in failed)
        raise IngestFailedError(f"{len(failed)} document(s) not indexed: {reasons}")
    return report


def chunk_count(report: IngestReport) -> int:
    """Chunks the report's jobs hold in the index."""
    return sum(int((info.result or {}).get("chunks", 0)) for info in report.jobs)


async def index_samples(client: GenAIFlowClient, directory: Path, collection: str) -> IngestReport:
    """Write SAMPLE_DOCS into directory and ingest them into collection (chunk ids `zephyr.md@<uri tag>#0`, ...)."""
    return await ingest_folder(client, write_samples(directory), collection)
