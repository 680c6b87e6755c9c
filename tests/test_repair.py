"""Bounded output and repair retries, asserted on the requests the simulator received (`--record-requests`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pydantic
import pytest
import redis.asyncio
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError

from activities.errors import classify, invalid_output
from activities.repair import REPAIR_OUTPUT_CHARS, repair_messages, repair_of, varied_sampling
from activities.retry import MAX_ATTEMPTS, step_failure
from activities.wire import response_format
from runtime.settings import DEFAULT_MAX_TOKENS, Settings
from schemas.answer import EntityList, Summary
from schemas.failures import FailureType
from schemas.inference import ChatMessage
from schemas.sim import SimLedgerCall
from schemas.structured import STRUCTURED_SCHEMAS
from tests.inference_probe import Probe, Rig


@pytest.fixture(scope="module")
def recording_sim(sim_factory: Callable[..., str]) -> str:
    """A simulator of this module's own that keeps each request's body."""
    return sim_factory("--record-requests")


@pytest.fixture
def rig(
    client: Client,
    recording_sim: str,
    isolated_settings: Settings,
    isolated_redis: redis.asyncio.Redis,
    unique: str,
) -> Rig:
    port = int(recording_sim.rsplit(":", 1)[1])
    return Rig(client, isolated_settings.model_copy(update={"sim_port": port}), isolated_redis, unique, recording_sim)


def structured(text: str, step: str = "summarize") -> dict[str, Any]:
    """A structured request body for the probe (the `summary` schema)."""
    return {"step": step, "schema_name": "summary", "messages": [{"role": "user", "content": text}]}


async def recorded(rig: Rig, name: str, step: str) -> list[SimLedgerCall]:
    """Every call the simulator received for the probe's step, with its request body."""
    return (await rig.ledger(name)).entries[f"{rig.wf(name)}/{step}"].calls


def body(call: SimLedgerCall) -> dict[str, Any]:
    assert call.request is not None, "the simulator did not record the request"
    return call.request


def test_invalid_output_names_the_path_or_the_bound() -> None:
    with pytest.raises(pydantic.ValidationError) as bad:
        EntityList.model_validate_json('{"entities": [{"text": "Ada", "type": "PERSON"}]}')
    located = invalid_output("entities", bad.value, "stop", 1024, 7, "{...}")
    assert str(located) == "entities: schema error at path entities.0.evidence_chunk_id: Field required"
    assert (located.billed_tokens, located.output) == (7, "{...}")
    with pytest.raises(pydantic.ValidationError) as cut:
        EntityList.model_validate_json('{"entities": [{"text": "Ada Ada Ada')
    truncated = invalid_output("entities", cut.value, "length", 8, 8, '{"entities": [{"text": "Ada Ada Ada')
    assert "truncated at max_tokens=8" in str(truncated)
    assert classify(truncated).type == "InvalidOutput" and "truncated" in classify(truncated).message


def nodes(schema: Any) -> list[dict[str, Any]]:
    """Every object node of a JSON schema, at any depth."""
    if isinstance(schema, list):
        return [n for item in schema for n in nodes(item)]
    if not isinstance(schema, dict):
        return []
    return [schema, *(n for value in schema.values() for n in nodes(value))]


def test_structured_schemas_bound_every_string_and_list_for_grammar_servers() -> None:
    """A grammar-enforcing server must close every string and list: a JSON-string loop cannot run to max_tokens."""
    for name, model in STRUCTURED_SCHEMAS.items():
        wire = response_format(name, model)["json_schema"]["schema"]
        strings = [n for n in nodes(wire) if n.get("type") == "string"]
        lists = [n for n in nodes(wire) if n.get("type") == "array"]
        assert strings and all("maxLength" in n for n in strings), name
        assert lists and all("maxItems" in n for n in lists), name
        # OpenAI's strict mode refuses maxLength: the openai backend leaves string lengths out, keeps list bounds.
        plain = response_format(name, model, string_bounds=False)["json_schema"]["schema"]
        assert not any("maxLength" in n for n in nodes(plain)), name
        assert all("maxItems" in n for n in nodes(plain) if n.get("type") == "array"), name
    with pytest.raises(pydantic.ValidationError, match="at most 80 characters"):
        STRUCTURED_SCHEMAS["entities"].model_validate(
            {"entities": [{"text": "x" * 81, "type": "T", "evidence_chunk_id": "a#0"}]}
        )
    # The result models the workflows read stay unbounded: a run recorded before a bound changed still replays.
    EntityList.model_validate({"entities": [{"text": "x" * 81, "type": "T", "evidence_chunk_id": "a#0"}] * 30})
    assert Settings(llm="local").schema_string_bounds and not Settings(llm="openai").schema_string_bounds


def test_repair_messages_and_sampling() -> None:
    asked = [ChatMessage(role="user", content="Summarize.")]
    assert repair_messages(asked, None) == asked
    repair = repair_of("x" * (REPAIR_OUTPUT_CHARS + 500), "summary: schema error at path (root): Invalid JSON")
    *_, assistant, ask = repair_messages(asked, repair)
    assert assistant.role == "assistant" and len(assistant.content or "") <= REPAIR_OUTPUT_CHARS + 2
    assert ask.role == "user" and "schema error at path (root)" in (ask.content or "")
    assert repair_messages(asked, repair_of("", "empty"))[1].content  # never an empty assistant message
    assert varied_sampling(0.0, 0) == (0.0, None)
    assert varied_sampling(0.0, 2) == (0.4, 2)
    assert varied_sampling(0.7, 1) == (0.7, 1)  # a caller's higher temperature is kept
    assert varied_sampling(0.0, 9)[0] == 1.0


async def test_looping_json_is_cut_by_max_tokens_and_dead_letters_as_truncated(rig: Rig) -> None:
    bounded = rig.settings.model_copy(update={"max_tokens": {**DEFAULT_MAX_TOKENS, "summarize": 6}})
    probe = Probe(activity="structured", request=structured("The sky is blue. Grass is green. [[sim:jsonloop]]"))
    with pytest.raises(WorkflowFailureError) as failed:
        async with rig.worker(bounded):
            await rig.probe("loop", probe)
    activity_error = failed.value.cause
    assert isinstance(activity_error, ActivityError) and isinstance(activity_error.cause, ApplicationError)
    assert (activity_error.cause.type, activity_error.cause.non_retryable) == ("InvalidOutput", True)
    details = step_failure(activity_error)
    assert details is not None and (details.type, details.attempts) == (FailureType.INVALID_OUTPUT, MAX_ATTEMPTS)
    assert "truncated at max_tokens=6" in details.last_error, details.last_error
    assert "timeout" not in details.last_error.lower()

    calls = await recorded(rig, "loop", "summarize")
    assert len(calls) == MAX_ATTEMPTS
    # Each attempt was cut at the bound (6 completion tokens billed), none ran to a timeout.
    assert [body(c)["max_tokens"] for c in calls] == [6] * MAX_ATTEMPTS
    assert [c.billed_completion_tokens for c in calls] == [6] * MAX_ATTEMPTS
    # Attempts 2..5 repair: the cut reply goes back as the assistant's, followed by what was wrong with it.
    for call in calls[1:]:
        *_, assistant, ask = body(call)["messages"]
        assert assistant["role"] == "assistant" and assistant["content"].startswith('{"summary": "')
        assert ask["role"] == "user" and "truncated at max_tokens=6" in ask["content"]
    # ... and sample differently, so a deterministic model need not repeat itself.
    assert [body(c).get("seed") for c in calls] == [None, 1, 2, 3, 4]
    assert [body(c)["temperature"] for c in calls] == [0.0, 0.2, 0.4, 0.6, 0.8]


async def test_structured_retry_carries_the_validation_error(rig: Rig) -> None:
    text = f"The sky is blue. Grass is green. [[sim:badjsonx1#{rig.unique}]]"
    result = await rig.run("repair", Probe(activity="structured", request=structured(text)))
    Summary.model_validate(result["data"])

    first, second = await recorded(rig, "repair", "summarize")
    assert len(body(first)["messages"]) == 1 and "seed" not in body(first)
    original, assistant, ask = body(second)["messages"]
    assert original == body(first)["messages"][0]
    assert assistant["role"] == "assistant" and assistant["content"]  # the rejected reply, as the server sent it
    assert ask["role"] == "user"
    assert "summary: schema error at path " in ask["content"], ask["content"]
    assert (body(second)["seed"], body(second)["temperature"]) == (1, 0.2)
    # Both replies were billed, and the step's usage says so.
    assert result["usage"]["billed_tokens"] == sum(
        c.billed_prompt_tokens + c.billed_completion_tokens for c in (first, second)
    )


async def test_every_chat_call_is_bounded(rig: Rig) -> None:
    chat = {
        "step": "agent.step",
        "stream": True,
        "messages": [{"role": "user", "content": "Hello there, how are you today?"}],
    }
    own = {**chat, "step": "answer", "stream": False, "max_tokens": 3}
    async with rig.worker():
        await rig.probe("default", Probe(activity="chat", request=chat))
        cut = await rig.probe("own", Probe(activity="chat", request=own))
    [streamed] = await recorded(rig, "default", "agent.step")
    assert body(streamed)["max_tokens"] == DEFAULT_MAX_TOKENS["default"]  # a step nobody listed: the default bound
    [bounded] = await recorded(rig, "own", "answer")
    assert body(bounded)["max_tokens"] == 3  # the request's own bound wins
    # Plain text cut at the bound is returned, marked by its finish reason (it is still usable text).
    assert cut["finish_reason"] == "length" and cut["usage"]["completion_tokens"] == 3


async def test_cut_tool_call_is_invalid_output_then_repaired(rig: Rig) -> None:
    tool = {
        "name": "search_docs",
        "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]},
    }
    request = {
        "step": "agent.step",
        "tools": [tool],
        "messages": [{"role": "user", "content": "Please search docs for the retry policy of long workflows."}],
        "max_tokens": 4,
    }
    with pytest.raises(WorkflowFailureError) as failed:
        await rig.run("tool", Probe(activity="chat", request=request))
    details = step_failure(failed.value.cause)  # type: ignore[arg-type]
    assert details is not None and details.type is FailureType.INVALID_OUTPUT
    assert "tool call search_docs truncated at max_tokens=4" in details.last_error
    calls = await recorded(rig, "tool", "agent.step")
    assert [body(c).get("seed") for c in calls] == [None, 1, 2, 3, 4]
