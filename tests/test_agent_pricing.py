"""An agent's spend is priced like every pipeline's: per model in its result and in `stats`, never counted twice;
on the simulator its final answer comes from what its tools found."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import Client

from runtime.jobstats import JobStatsStore, WindowStats
from runtime.keys import RedisKeys
from runtime.redis import redis_client
from runtime.settings import Settings
from schemas.agent import AgentCarry, AgentRequest, AgentResult, Outcome, PauseReason
from schemas.answer import AnswerResult
from schemas.events import EventType
from schemas.usage import Usage, by_model
from tests.helpers import index_facts, private_settings, progress_events, running_workers
from workflows.agent_bookkeeping import pending_question


async def test_agent_usage_names_its_models_and_costs_in_result_and_stats(
    servers: dict[str, str], client: Client, unique: str, tmp_path: Path
) -> None:
    settings = private_settings(unique)
    collection = f"facts-{unique}"
    await index_facts(tmp_path, collection, settings)
    indexing = await billed_in_stats(settings)
    async with running_workers(client, settings) as flow:
        task = "Use search_documents to find who planted the Harlow orchard."
        searched = await flow.wait((await flow.start_agent(AgentRequest(task=task, collection=collection))).job_id)
        task = "Use answer_question to learn who planted the Harlow orchard."
        answered_job = (await flow.start_agent(AgentRequest(task=task, collection=collection))).job_id
        answered = await flow.wait(answered_job)
        child = await flow.wait(f"{answered_job}-answer1")

    result = AgentResult.model_validate(searched.result)
    assert result.outcome is Outcome.ANSWERED and result.tool_calls == 1
    # The answer comes from the chunk the search found, cited; never the task echoed back.
    assert "Thomas Greaves" in result.answer and "orchard.md@" in result.answer
    assert "search_documents" not in result.answer
    assert result.usage.model == "mixed" and result.usage.billed_tokens > 0
    rows = {row.usage.model: row for row in result.ledger}
    assert set(rows) == {"sim-chat", "sim-embed"} and all(row.cost_usd > 0 for row in rows.values())
    assert result.cost_usd == pytest.approx(sum(row.cost_usd for row in rows.values())) and result.cost_usd > 0
    assert sum(row.usage.billed_tokens for row in rows.values()) == result.usage.billed_tokens

    # answer_question runs a child job that prices and counts itself: the agent adds its cost, not its tokens.
    via_child = AgentResult.model_validate(answered.result)
    child_result = AnswerResult.model_validate(child.result)
    assert via_child.answer == child_result.answer and child_result.cost_usd > 0
    assert {row.usage.model for row in via_child.ledger} == {"sim-chat"}
    own = sum(row.cost_usd for row in via_child.ledger)
    assert via_child.cost_usd == pytest.approx(own + child_result.cost_usd)
    (closed,) = [e for e in await progress_events(settings, answered_job) if e.type is EventType.JOB_COMPLETED]
    assert closed.data["cost_usd"] == pytest.approx(via_child.cost_usd)

    window = await stats_window(settings)
    assert "unknown" not in window.models and "mixed" not in window.models
    assert window.models["sim-chat"].cost_usd > 0 and window.models["sim-embed"].cost_usd > 0
    # Every billed token is counted once: the two agents' own rows plus the child answer job's steps.
    billed = [*(r.usage for r in result.ledger), *(r.usage for r in via_child.ledger), child_result.usage]
    assert await billed_in_stats(settings) - indexing == sum(u.billed_tokens for u in billed)


async def stats_window(settings: Settings) -> WindowStats:
    """The per-minute counters `genai-flow stats` reads, over the last ten minutes of this test's keys."""
    redis = redis_client(settings)
    try:
        return await JobStatsStore(redis, RedisKeys.of(settings)).window(10)
    finally:
        await redis.aclose()


async def billed_in_stats(settings: Settings) -> int:
    """Billed tokens the stats counters hold, over every model."""
    return sum(m.billed_tokens for m in (await stats_window(settings)).models.values())


def test_pause_question_has_one_period_after_the_task() -> None:
    carry = AgentCarry(depth=3, max_depth=3, usage=Usage(), last_summary="step 3 answered: yes")
    for task in ("Find the answer.", "Find the answer", "Find the answer?"):
        question = pending_question(AgentRequest(task=task), carry, PauseReason.DEPTH)
        assert ".." not in question and "?." not in question and "Find the answer" in question, question
        assert question.endswith("Last step: step 3 answered: yes")


def test_a_usage_sum_keeps_its_model_and_by_model_splits_it() -> None:
    chat = Usage(model="sim-chat", prompt_tokens=10, completion_tokens=5, billed_tokens=15)
    embed = Usage(model="sim-embed", prompt_tokens=4, billed_tokens=4)
    assert (Usage() + chat).model == "sim-chat" and (chat + Usage()).model == "sim-chat"  # a start from zero
    assert (chat + chat).model == "sim-chat" and (chat + embed).model == "mixed"
    cached = chat.model_copy(update={"billed_tokens": 0, "cache_hit": True})
    rows = by_model([chat, embed, Usage(), chat, cached])
    assert [(u.model, u.cache_hit, u.billed_tokens) for u in rows] == [
        ("sim-chat", False, 30),
        ("sim-embed", False, 4),
        ("sim-chat", True, 0),
    ]
