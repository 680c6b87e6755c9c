"""Index a local corpus (markdown/text files) into the vector index through the same clients the pipelines use.

The ingestion pipeline (IngestDocument, not built yet) is to be the durable path for documents; this is the quick
local one that the demo and tests use to give AnswerQuestion something to retrieve. It makes model calls itself,
like a worker, so only commands that run a component (`demo`) import it, and lazily.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path

from pydantic import BaseModel

from activities.chunking import chunk_text
from activities.embeddings import embed_texts
from activities.llm import make_llm
from runtime.settings import Settings
from runtime.vectorindex import IndexedChunk, VectorIndex
from schemas.usage import Usage

TEXT_SUFFIXES = {".md", ".txt", ".rst"}

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


class IndexReport(BaseModel):
    """What indexing a corpus did."""

    collection: str
    files: int
    chunks: int
    usage: Usage


def corpus_files(paths: Iterable[Path]) -> list[Path]:
    """Text files among paths (directories are searched recursively), sorted for stable chunk ids."""
    found: set[Path] = set()
    for path in paths:
        if path.is_dir():
            found.update(p for p in path.rglob("*") if p.suffix in TEXT_SUFFIXES and p.is_file())
        elif path.is_file():
            found.add(path)
        else:
            raise FileNotFoundError(f"no such file or directory: {path}")
    return sorted(found)


async def index_corpus(
    paths: Iterable[Path],
    collection: str,
    settings: Settings,
    root: Path | None = None,
    prepare: Callable[[str], str] | None = None,
) -> IndexReport:
    """Chunk, embed and upsert every file; chunk ids are `<relative path>#<n>` so answers cite readable ids."""
    files = corpus_files(paths)
    chunks: list[tuple[str, str, str]] = []  # (chunk id, text, source)
    for path in files:
        source = str(path.relative_to(root)) if root and path.is_relative_to(root) else path.name
        raw = path.read_text(errors="replace")
        for n, text in enumerate(chunk_text(prepare(raw) if prepare else raw)):
            chunks.append((f"{source}#{n}", text, source))
    llm = make_llm(settings, settings.embed_url)
    try:
        digest = hashlib.sha256("".join(c[1] for c in chunks).encode()).hexdigest()[:16]
        vectors, usage = await embed_texts(llm, [c[1] for c in chunks], settings.embed_model, f"corpus-{digest}")
    finally:
        await llm.close()
    index = await VectorIndex.connect(settings)
    await index.upsert(
        collection,
        [
            IndexedChunk(chunk_id=cid, text=text, vector=vec, metadata={"source": source})
            for (cid, text, source), vec in zip(chunks, vectors, strict=True)
        ],
    )
    return IndexReport(collection=collection, files=len(files), chunks=len(chunks), usage=usage)


def write_samples(directory: Path) -> Path:
    """Write SAMPLE_DOCS as files into directory; returns it."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in SAMPLE_DOCS.items():
        (directory / name).write_text(text)
    return directory


async def index_samples(directory: Path, collection: str, settings: Settings) -> IndexReport:
    """Write SAMPLE_DOCS into directory and index them into collection (chunk ids `zephyr.md#0`, ...)."""
    return await index_corpus([write_samples(directory)], collection, settings, root=directory)
