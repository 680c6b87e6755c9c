"""`genai-flow ingest DIR --wait` as a user runs it: every format indexed, re-runs unchanged, bad PDFs dead-lettered."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio
from temporalio.client import Client

from runtime.objectstore import ObjectStore
from runtime.settings import Settings
from runtime.vectorindex import VectorIndex
from schemas.answer import AnswerRequest, AnswerResult
from schemas.ingest import ObjectVersion
from schemas.jobs import JobStatus, Pipeline
from schemas.s3events import IgnoredEvent
from starter.client import GenAIFlowClient
from starter.dlq import list_dead_letters
from starter.ingest_paths import IngestReport, IngestStarted
from tests.helpers import arm_sim_fault, private_settings, running_workers, sim_ledger
from tests.ingest_docs import write_folder
from tests.test_cli_answer import cli


@pytest_asyncio.fixture
async def flow(servers: dict[str, str], client: Client, unique: str) -> AsyncIterator[tuple[Settings, GenAIFlowClient]]:
    settings = private_settings(unique)
    async with running_workers(client, settings) as gf:
        yield settings, gf


def by_name(report: IngestReport) -> dict[str, str]:
    """Document file name -> outcome (or status) of its job."""
    return {
        (info.result or {}).get("uri", "").rsplit("/", 1)[-1]: str((info.result or {}).get("outcome", info.status))
        for info in report.jobs
    }


async def ingest_calls(sim_url: str, job_ids: list[str]) -> int:
    """Embedding calls the simulator has seen from these ingestion jobs so far."""
    ledger = await sim_ledger(sim_url, prefix="ingest-")
    return sum(len(entry.calls) for key, entry in ledger.entries.items() if key.split("/", 1)[0] in job_ids)


async def test_folder_is_indexed_then_unchanged_without_new_embedding_calls(
    flow: tuple[Settings, GenAIFlowClient], tmp_path: Path, unique: str, servers: dict[str, str]
) -> None:
    settings, gf = flow
    folder = write_folder(tmp_path / "corpus", with_corrupt=False)
    collection = f"cli-{unique}"

    code, out, err = await cli(settings, "ingest", str(folder), "--collection", collection, "--wait", "--json")
    assert code == 0, err
    report = IngestReport.model_validate_json(out)
    assert {p.path: p.reason for p in report.ignored} == {
        ".hidden.md": "hidden file",
        "photo.jpg": "unsupported file type (txt, md, rst, html, pdf are ingested)",
    }
    assert by_name(report) == {n: "indexed" for n in ("zephyr.md", "orchard.txt", "lighthouse.html", "comet.pdf")}
    assert report.summary.model_dump() == {"indexed": 4, "unchanged": 0, "failed": 0, "empty": 0}

    index = await VectorIndex.connect(settings)
    pdf_uri = f"file://{(folder / 'guides' / 'comet.pdf').resolve()}"
    pdf = await (await index.collection(collection)).get(where={"uri": pdf_uri}, include=["metadatas", "documents"])
    pages = sorted((m["page"], m["last_page"]) for m in pdf["metadatas"])
    assert pages[0] == (1, 1) and pages[-1] == (1, 2), pages  # page numbers kept: the last chunk crosses a break
    (last,) = [d for d, m in zip(pdf["documents"], pdf["metadatas"], strict=True) if m["last_page"] == 2]
    assert "Lucia Moreno" in last
    assert all(m["end"] > m["start"] >= 0 and m["source"] == "guides/comet.pdf" for m in pdf["metadatas"])
    html = await (await index.collection(collection)).get(where={"source": "guides/lighthouse.html"})
    assert "38 metres" in " ".join(html["documents"]) and "secretToken" not in " ".join(html["documents"])

    started = await gf.start(
        Pipeline.ANSWER, AnswerRequest(question="Who catalogued Comet Veyra?", collection=collection)
    )
    answer = AnswerResult.model_validate((await asyncio.wait_for(gf.wait(started.job_id), 60)).result)
    assert "Lucia Moreno" in answer.answer and answer.citations[0].source == "guides/comet.pdf"

    job_ids = [j.job_id for j in report.jobs]
    calls_before = await ingest_calls(servers["sim_url"], job_ids)
    assert calls_before >= 4  # every document was embedded by its own job (so "no new calls" can fail)
    code, out, err = await cli(settings, "ingest", str(folder), "--collection", collection, "--wait", "--json")
    assert code == 0, err
    again = IngestReport.model_validate_json(out)
    assert again.summary.model_dump() == {"indexed": 0, "unchanged": 4, "failed": 0, "empty": 0}
    assert [j.job_id for j in again.jobs] == [j.job_id for j in report.jobs]  # the runs that indexed them
    assert await ingest_calls(servers["sim_url"], job_ids) == calls_before  # no new embedding calls

    code, out, _ = await cli(settings, "ingest", str(folder), "--collection", collection, "--json")
    assert code == 0 and all(job["unchanged"] and job["duplicate"] for job in json.loads(out)["jobs"])


async def test_corrupt_pdf_is_dead_lettered_while_the_others_complete(
    flow: tuple[Settings, GenAIFlowClient], tmp_path: Path, unique: str
) -> None:
    settings, gf = flow
    folder = write_folder(tmp_path / "corpus", with_corrupt=True)
    code, out, err = await cli(settings, "ingest", str(folder), "--collection", f"bad-{unique}", "--wait", "--json")
    assert code == 3, err  # any dead letter: exit 3
    report = IngestReport.model_validate_json(out)
    assert report.summary.model_dump() == {"indexed": 4, "unchanged": 0, "failed": 1, "empty": 0}
    (broken,) = [info for info in report.jobs if info.status is not JobStatus.COMPLETED]
    assert broken.status is JobStatus.DEAD_LETTERED
    assert broken.error is not None and "corrupt PDF" in broken.error.message

    letters = {v.job_id: v for v in await list_dead_letters(gf)}
    letter = letters[broken.job_id]
    assert letter.step == "extract_text" and letter.error_type == "Permanent"
    assert letter.last_error.startswith("corrupt PDF: pypdf could not read it")

    code, out, err = await cli(settings, "ingest", str(folder), "--collection", f"bad-{unique}", "--wait")
    assert code == 3, (out, err)
    assert "dead_lettered" in out and "corrupt PDF" in out and "indexed 0" in out  # human table


async def test_an_empty_document_is_reported_not_silently_indexed(
    flow: tuple[Settings, GenAIFlowClient], tmp_path: Path, unique: str
) -> None:
    settings, _ = flow
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "empty.txt").write_text("")
    (folder / "blank.md").write_text("  \n\n\t\n")
    (folder / "real.md").write_text("The Harlow orchard was planted by Thomas Greaves in 1911.")
    code, out, err = await cli(settings, "ingest", str(folder), "--collection", f"empty-{unique}", "--wait")
    assert code == 0, (out, err)
    assert "warning: 2 document(s) had no text to index: blank.md, empty.txt" in err
    assert "indexed 1 · empty 2" in out and "no text to index" in out

    code, out, err = await cli(settings, "ingest", str(folder), "--collection", f"empty2-{unique}", "--wait", "--json")
    report = IngestReport.model_validate_json(out)
    assert code == 0 and report.summary.model_dump() == {"indexed": 1, "unchanged": 0, "failed": 0, "empty": 2}
    assert by_name(report) == {"empty.txt": "empty", "blank.md": "empty", "real.md": "indexed"}
    empty = next(info for info in report.jobs if (info.result or {}).get("uri", "").endswith("empty.txt"))
    assert empty.result and empty.result["chunks"] == 0 and "no text to index" in empty.result["reason"]


async def test_a_long_reason_is_wrapped_at_word_boundaries_not_cut(
    flow: tuple[Settings, GenAIFlowClient], tmp_path: Path, unique: str
) -> None:
    settings, _ = flow
    (tmp_path / "scan.pdf").write_bytes(b"hello, not a PDF")
    target, collection = str(tmp_path / "scan.pdf"), f"cut-{unique}"
    code, out, err = await cli(settings, "ingest", target, "--collection", collection, "--wait", "--json")
    (info,) = IngestReport.model_validate_json(out).jobs
    assert code == 3 and info.error is not None and "does not start with a PDF header" in info.error.message
    code, out, err = await cli(settings, "ingest", target, "--collection", collection, "--wait", env={"COLUMNS": "80"})
    assert code == 3, (out, err)
    # The cell wraps at spaces: every word of the reason is shown whole (`--json` above has the text in one piece).
    shown = out.replace("│", " ").split()
    assert all(word in shown for word in info.error.message.split()), out
    assert "…" not in out  # the job id folds onto the next line rather than being cut


async def test_bad_input_gets_a_clear_error(flow: tuple[Settings, GenAIFlowClient], tmp_path: Path) -> None:
    settings, _ = flow
    code, _, err = await cli(settings, "ingest", str(tmp_path / "missing"))
    assert code == 2 and "no such file or directory" in err
    code, _, err = await cli(settings, "ingest", str(tmp_path), "--collection", "x!")
    assert code == 2 and "collection" in err


async def test_started_shape_without_wait(flow: tuple[Settings, GenAIFlowClient], tmp_path: Path, unique: str) -> None:
    settings, gf = flow
    folder = write_folder(tmp_path / "c", with_corrupt=False)
    code, out, _ = await cli(settings, "ingest", str(folder / "zephyr.md"), "--collection", f"one-{unique}", "--json")
    assert code == 0
    started = IngestStarted.model_validate_json(out)
    (job,) = started.jobs
    assert job.job_id.startswith("ingest-") and job.uri.endswith("/zephyr.md") and not job.duplicate
    assert (await gf.wait(job.job_id)).status is JobStatus.COMPLETED


async def test_dlq_replay_reruns_a_dead_lettered_ingestion(
    flow: tuple[Settings, GenAIFlowClient], tmp_path: Path, unique: str, servers: dict[str, str]
) -> None:
    """Embedding fails five times (a fault armed in the simulator): dead-lettered at `embed`; the replay completes."""
    settings, gf = flow
    doc = tmp_path / "flaky.md"
    doc.write_text(f"The Zephyr reactor was commissioned in 1987. flaky-{unique}")
    await arm_sim_fault(servers["sim_url"], f"flaky-{unique}", "500x5")
    code, out, _ = await cli(settings, "ingest", str(doc), "--collection", f"dlq-{unique}", "--wait", "--json")
    assert code == 3
    (info,) = IngestReport.model_validate_json(out).jobs
    letter = {v.job_id: v for v in await list_dead_letters(gf)}[info.job_id]
    assert letter.step == "embed" and letter.attempts == 5 and letter.error_type == "Transient"
    ledger = await sim_ledger(servers["sim_url"], prefix=f"{info.job_id}/embed")
    assert sum(len(e.calls) for e in ledger.entries.values()) == 5  # five paid-for attempts, no more

    code, out, err = await cli(settings, "dlq", "replay", info.job_id, "--json")
    assert code == 0, err
    replayed = json.loads(out)["job_id"]
    assert replayed == f"{info.job_id}-replay-1"
    final = await asyncio.wait_for(gf.wait(replayed), 60)
    assert final.status is JobStatus.COMPLETED and final.result and final.result["outcome"] == "indexed"
    state = await gf.ingest(
        (await _head(doc)).model_copy(update={"source": "flaky.md"}), f"dlq-{unique}"
    )  # the index now holds the version: unchanged, answered with the replay's job
    assert not isinstance(state, IgnoredEvent) and state.unchanged and state.job_id == replayed


async def _head(path: Path) -> ObjectVersion:
    async with ObjectStore() as store:
        return (await store.head(str(path))).as_version()
