"""AnswerQuestion's branches in-process: ledger, citations, parallel steps, score gap, throttling, dead letters."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError

from schemas import search_attributes as sa
from schemas.answer import AnswerRequest, AnswerResult
from schemas.events import EventType
from schemas.retrieval import RetrieveRequest
from tests.inproc.conftest import Rig
from tests.inproc.stubs import CORPUS, http_error

STEPS = {"retrieve", "summarize", "extract_entities", "generate_answer"}


async def answer(rig: Rig, **request: Any) -> AnswerResult:
    """Run one AnswerQuestion to its end."""
    req = AnswerRequest(question="Who commissioned the Zephyr reactor?", collection="facts", **request)
    handle = await rig.start("AnswerQuestion", req, AnswerResult)
    result: AnswerResult = await handle.result()
    return result


async def failed(rig: Rig, **request: Any) -> tuple[ApplicationError, bool | None]:
    """Run one AnswerQuestion that must fail: its error and its `DeadLettered` search attribute."""
    req = AnswerRequest(question="Who commissioned the Zephyr reactor?", collection="facts", **request)
    handle = await rig.start("AnswerQuestion", req, AnswerResult)
    with pytest.raises(WorkflowFailureError) as caught:
        await handle.result()
    assert isinstance(caught.value.cause, ApplicationError), caught.value.cause
    flagged = (await handle.describe()).typed_search_attributes.get(sa.DEAD_LETTERED)
    return caught.value.cause, flagged


async def test_the_answer_cites_its_chunk_and_the_ledger_adds_up(rig: Rig) -> None:
    result = await answer(rig)
    assert result.answer == rig.stubs.answer and not result.truncated
    [citation] = result.citations
    assert (citation.chunk_id, citation.source, citation.inferred) == ("zephyr.md@v1#0", "zephyr.md", False)
    assert citation.quote in CORPUS[0].text and "Amelia Hartwell" in citation.quote
    assert {s.step for s in result.steps} == STEPS
    assert result.entities[0].evidence_chunk_id == "zephyr.md@v1#0" and result.summary and result.summary.summary
    assert result.usage.billed_tokens == sum(s.usage.billed_tokens for s in result.steps) == 8 + 50 + 50 + 80
    assert result.cost_usd == pytest.approx(sum(s.cost_usd for s in result.steps)) and result.cost_usd > 0
    [closing] = rig.stubs.finished  # one terminal event, with the ledger it priced
    assert closing.event == "job.completed" and {s.step for s in closing.steps} == STEPS
    assert closing.data["answer"] == result.answer and not rig.stubs.dead_letters


async def test_summarize_and_extract_entities_run_at_once_between_retrieve_and_answer(rig: Rig) -> None:
    rig.stubs.together["structured"] = 2  # each waits until the other runs too: they can only pass if they overlap
    await answer(rig)
    assert rig.stubs.peak["structured"] == 2
    order = [name for name, _ in rig.stubs.calls]
    assert order == ["retrieve", "structured", "structured", "chat"]  # retrieve first, the answer last
    assert {c.step for c in rig.stubs.inputs("structured")} == {"summarize", "extract_entities"}


async def test_a_score_gap_sends_only_the_chunks_near_the_best_to_the_model(rig: Rig) -> None:
    everything = await answer(rig, top_k=3)
    near = await answer(rig, top_k=3, score_gap=0.0)
    first, second = rig.stubs.inputs("retrieve")
    assert isinstance(first, RetrieveRequest) and (first.top_k, first.score_gap) == (3, None)
    assert (second.top_k, second.score_gap) == (3, 0.0)
    prompts = [c.messages[-1].content for c in rig.stubs.inputs("chat")]
    assert all(c.chunk_id in prompts[0] for c in CORPUS)  # no gap: every chunk reaches the model
    assert CORPUS[0].chunk_id in prompts[1] and not any(c.chunk_id in prompts[1] for c in CORPUS[1:])
    assert everything.citations and near.citations


async def test_an_answer_without_chunk_ids_gets_inferred_verbatim_citations(rig: Rig) -> None:
    rig.stubs.answer = "Dr. Amelia Hartwell commissioned the Zephyr reactor in 1987 in Lisbon."
    result = await answer(rig)
    [citation] = result.citations
    assert citation.chunk_id == CORPUS[0].chunk_id and citation.inferred
    assert citation.quote and citation.quote in CORPUS[0].text  # cut from the chunk, never the model's words


async def test_an_answer_cut_at_its_token_bound_is_marked_truncated(rig: Rig) -> None:
    rig.stubs.finish_reason = "length"
    assert (await answer(rig)).truncated


async def test_a_step_failing_five_times_dead_letters_the_job(rig: Rig) -> None:
    rig.stubs.poison.add("retrieve")
    error, flagged = await failed(rig)
    assert error.type == "DeadLettered" and "retrieve after 5 attempt(s)" in error.message and flagged is True
    assert rig.stubs.model_calls["retrieve"] == 5 and "chat" not in dict(rig.stubs.calls)
    [entry] = rig.stubs.dead_letters.values()
    assert (entry.step, entry.attempts, entry.error_type) == ("retrieve", 5, "Transient")
    assert entry.input["question"] == "Who commissioned the Zephyr reactor?"  # what `dlq replay` starts again
    [closing] = rig.stubs.finished
    assert closing.event == "job.dead_lettered" and closing.data["attempts"] == 5


async def test_four_failures_then_success_completes(rig: Rig) -> None:
    rig.stubs.faults["generate_answer"] = [http_error(500) for _ in range(4)]
    result = await answer(rig)
    assert rig.stubs.model_calls["generate_answer"] == 5 and result.answer and not rig.stubs.dead_letters


async def test_the_first_failing_parallel_step_names_the_dead_letter(rig: Rig) -> None:
    rig.stubs.poison.add("extract_entities")
    error, flagged = await failed(rig)
    assert error.type == "DeadLettered" and flagged is True
    [entry] = rig.stubs.dead_letters.values()
    assert (entry.step, entry.attempts) == ("extract_entities", 5)
    assert not rig.stubs.inputs("chat")  # the answer is never asked for


async def test_a_permanent_error_dead_letters_at_once(rig: Rig) -> None:
    rig.stubs.faults["summarize"] = [http_error(400)]
    error, _ = await failed(rig)
    [entry] = rig.stubs.dead_letters.values()
    assert (entry.step, entry.attempts, entry.error_type) == ("summarize", 1, "Permanent")
    assert rig.stubs.model_calls["summarize"] == 1 and error.type == "DeadLettered"


async def test_throttled_retries_do_not_count_toward_the_dead_letter_threshold(rig: Rig) -> None:
    throttled: list[BaseException] = [http_error(503) for _ in range(3)]
    throttled += [http_error(429, retry_after_ms=2000) for _ in range(4)]
    rig.stubs.faults["generate_answer"] = throttled
    result = await answer(rig)
    assert rig.stubs.model_calls["generate_answer"] == 8  # seven throttled attempts, more than 5, then the answer
    assert result.answer == rig.stubs.answer and not rig.stubs.dead_letters


async def test_a_step_still_throttled_at_its_deadline_dead_letters_as_deadline_exceeded(rig: Rig) -> None:
    rig.stubs.faults["retrieve"] = [http_error(503, retry_after_ms=20_000) for _ in range(100)]
    error, flagged = await failed(rig, step_deadline_s=60)
    [entry] = rig.stubs.dead_letters.values()
    assert entry.step == "retrieve" and entry.error_type == "DeadlineExceeded" and flagged is True
    assert 2 <= rig.stubs.model_calls["retrieve"] <= 4  # retried as the provider asked, until the deadline
    assert "deadline" in error.message


async def test_the_token_limit_fails_the_job_without_a_dead_letter(rig: Rig) -> None:
    error, flagged = await failed(rig, token_limit=5)
    assert error.type == "TokenLimitExceeded" and flagged is None
    assert not rig.stubs.dead_letters
    [closing] = rig.stubs.finished
    assert closing.event == "job.failed" and "token limit" in closing.data["error"]
    assert EventType.JOB_DEAD_LETTERED.value not in [f.event for f in rig.stubs.finished]
