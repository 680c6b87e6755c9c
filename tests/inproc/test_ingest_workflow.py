"""IngestDocument's branches in-process: the steps and what they carry, bounded fan-out, versions that lose to a
later event, removals, failures and dead letters, and claims dropped whatever the outcome."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError

from activities.ingest_support import permanent, superseded, transient
from schemas import search_attributes as sa
from schemas.ingest import IngestAction, IngestOutcome, IngestRequest, IngestResult
from schemas.ingest_steps import IndexRequest, IndexResult
from tests.inproc.conftest import Rig
from workflows.ingest import EMBED_PARALLELISM

URI = "s3://docs/reports/zephyr notes.md"


async def start(rig: Rig, **request: Any) -> WorkflowHandle[Any, IngestResult]:
    """Start an IngestDocument of URI's version v2 (sequencer 02) into `facts`."""
    fields = {"uri": URI, "version": "v2", "sequencer": "02", "collection": "facts", **request}
    return await rig.start("IngestDocument", IngestRequest(**fields), IngestResult)


async def ingest(rig: Rig, **request: Any) -> IngestResult:
    """Run one IngestDocument to its end."""
    result: IngestResult = await (await start(rig, **request)).result()
    return result


async def dead_lettered(rig: Rig, **request: Any) -> ApplicationError:
    """Run one IngestDocument that must be dead-lettered; its error (the `DeadLettered` flag checked)."""
    handle = await start(rig, **request)
    with pytest.raises(WorkflowFailureError) as caught:
        await handle.result()
    error = caught.value.cause
    assert isinstance(error, ApplicationError) and error.type == "DeadLettered", error
    assert (await handle.describe()).typed_search_attributes.get(sa.DEAD_LETTERED) is True
    assert rig.stubs.finished[-1].event == "job.dead_lettered"
    return error


def steps(rig: Rig) -> list[str]:
    """The activities the run called, in order (retries included)."""
    return [name for name, _ in rig.stubs.calls]


async def test_a_version_is_extracted_chunked_embedded_and_indexed_with_its_identity(rig: Rig) -> None:
    handle = await start(rig)
    result: IngestResult = await handle.result()
    assert steps(rig) == ["extract_text", "chunk", "embed_chunks", "index_chunks", "drop_claims"]
    assert (result.outcome, result.chunks, result.pages, result.chars) == (IngestOutcome.INDEXED, 2, 1, 120)
    [index] = rig.stubs.inputs("index_chunks")
    assert isinstance(index, IndexRequest)
    assert (index.uri, index.version, index.sequencer, index.collection) == (URI, "v2", "02", "facts")
    assert index.source == "reports/zephyr notes.md" and index.job_id == handle.id  # the S3 key is what answers cite
    prefix = f"{handle.id}/{handle.result_run_id}"  # this run's claims, and only they, are dropped
    assert rig.stubs.inputs("extract_text")[0].claim_prefix == prefix and rig.stubs.inputs("drop_claims") == [prefix]
    assert [s.step for s in result.steps] == ["embed"] and result.usage.billed_tokens == 30
    [closing] = rig.stubs.finished
    assert closing.event == "job.completed" and closing.data["outcome"] == "indexed" and closing.data["chunks"] == 2


async def test_chunk_groups_embed_at_most_four_at_once_and_are_booked_as_one_step(rig: Rig) -> None:
    rig.stubs.chunk_groups = 10
    rig.stubs.together["embed_chunks"] = EMBED_PARALLELISM  # each waits for the others: the fan-out must reach 4
    result = await ingest(rig)
    assert rig.stubs.peak["embed_chunks"] == EMBED_PARALLELISM
    assert sorted(c.group for c in rig.stubs.inputs("embed_chunks")) == list(range(10))
    [index] = rig.stubs.inputs("index_chunks")
    assert [v.uri.rsplit("/", 1)[-1] for v in index.vectors] == [str(g) for g in range(10)]  # in group order
    assert [s.step for s in result.steps] == ["embed"] and result.usage.billed_tokens == 10 * 30
    assert result.chunks == 20


async def test_a_version_that_lost_to_a_later_event_ends_superseded(rig: Rig) -> None:
    rig.stubs.index_result = IndexResult(outcome=IngestOutcome.SUPERSEDED, reason="a later event (sequencer 03) won")
    result = await ingest(rig)
    assert result.outcome is IngestOutcome.SUPERSEDED and "sequencer 03" in result.reason
    assert rig.stubs.finished[0].data["outcome"] == "superseded" and not rig.stubs.dead_letters


async def test_an_object_changed_before_extraction_ends_superseded_without_indexing(rig: Rig) -> None:
    rig.stubs.io_faults["extract_text"] = lambda attempt: superseded(f"{URI} is no longer version v2")
    result = await ingest(rig)
    assert result.outcome is IngestOutcome.SUPERSEDED and "no longer version v2" in result.reason
    assert steps(rig) == ["extract_text", "drop_claims"] and not rig.stubs.dead_letters


async def test_a_removal_deletes_the_chunks_and_touches_no_claims(rig: Rig) -> None:
    result = await ingest(rig, action=IngestAction.REMOVE, version="")
    assert steps(rig) == ["remove_document"]
    assert (result.outcome, result.removed_chunks) == (IngestOutcome.REMOVED, 3)
    [remove] = rig.stubs.inputs("remove_document")
    assert (remove.uri, remove.sequencer, remove.collection) == (URI, "02", "facts")
    assert rig.stubs.finished[0].data == {"outcome": "removed", "reason": "", "content_type": "", "pages": 0,
                                          "chars": 0, "chunks": 0, "removed_chunks": 3}  # fmt: skip


async def test_removing_what_the_index_does_not_hold_ends_not_indexed(rig: Rig) -> None:
    rig.stubs.remove_result = IndexResult(outcome=IngestOutcome.NOT_INDEXED, reason="the index does not hold it")
    result = await ingest(rig, action=IngestAction.REMOVE, version="")
    assert result.outcome is IngestOutcome.NOT_INDEXED and result.reason == "the index does not hold it"


async def test_an_unreadable_document_dead_letters_at_extraction_at_once(rig: Rig) -> None:
    rig.stubs.io_faults["extract_text"] = lambda attempt: permanent("extract_text", "not a PDF: bad header")
    error = await dead_lettered(rig)
    [entry] = rig.stubs.dead_letters.values()
    assert (entry.step, entry.attempts, entry.error_type) == ("extract_text", 1, "Permanent")
    assert entry.input["uri"] == URI and "bad header" in error.message
    assert steps(rig) == ["extract_text", "drop_claims"]  # claims dropped even so


async def test_an_index_step_failing_five_times_dead_letters_the_job(rig: Rig) -> None:
    rig.stubs.io_faults["index_chunks"] = lambda attempt: transient("index", ConnectionError("chroma is down"))
    await dead_lettered(rig)
    [entry] = rig.stubs.dead_letters.values()
    assert (entry.step, entry.attempts, entry.error_type) == ("index_chunks", 5, "Transient")
    assert "chroma is down" in entry.last_error and steps(rig).count("index_chunks") == 5
    assert steps(rig)[-1] == "drop_claims"


async def test_an_io_step_that_recovers_within_five_attempts_completes(rig: Rig) -> None:
    rig.stubs.io_faults["chunk"] = lambda attempt: transient("chunk", OSError("busy")) if attempt <= 2 else None
    result = await ingest(rig)
    assert result.outcome is IngestOutcome.INDEXED and steps(rig).count("chunk") == 3 and not rig.stubs.dead_letters


async def test_an_embed_group_failing_five_times_dead_letters_the_embed_step(rig: Rig) -> None:
    rig.stubs.chunk_groups = 3
    rig.stubs.poison.add("embed#1")
    await dead_lettered(rig)
    [entry] = rig.stubs.dead_letters.values()
    assert (entry.step, entry.attempts, entry.error_type) == ("embed", 5, "Transient")
    assert "index_chunks" not in steps(rig) and rig.stubs.model_calls["embed#1"] == 5


async def test_claims_that_cannot_be_dropped_do_not_change_the_outcome(rig: Rig) -> None:
    rig.stubs.claims_drop_fails = True
    result = await ingest(rig)
    assert result.outcome is IngestOutcome.INDEXED and steps(rig).count("drop_claims") == 3  # tried, then left
    assert rig.stubs.finished[0].event == "job.completed"
