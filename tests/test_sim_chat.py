"""Simulator chat completions through the official openai client: answers, streams, structured output, tools."""

from __future__ import annotations

import json
from collections.abc import Callable

import jsonschema
import pytest
from openai import AsyncOpenAI
from pydantic import BaseModel, Field

from schemas.answer import EntityList, Summary

CONTEXT = """Answer from the context; cite chunk ids.

[guide#0] The Eiffel Tower stands in Paris. It was completed in 1889 by the company of Gustave Eiffel.
[guide#1] Berlin is the capital of Germany. The Brandenburg Gate was finished in 1791.
[faq#7] Contact Acme Corp at support@acme.example for tickets. Jane Doe leads support since 2021-04-01.

Question: When was the Eiffel Tower completed?"""


@pytest.fixture(scope="module")
def sim_url(sim_factory: Callable[..., str]) -> str:
    """A simulator of this module's own (default flags, seed 0)."""
    return sim_factory("--seed", "0")


async def test_answer_cites_best_chunk(llm: AsyncOpenAI) -> None:
    resp = await llm.chat.completions.create(model="sim-chat", messages=[{"role": "user", "content": CONTEXT}])
    text = resp.choices[0].message.content or ""
    assert "completed in 1889" in text
    assert "[guide#0]" in text
    assert "[guide#1]" not in text and "[faq#7]" not in text
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None and resp.usage.prompt_tokens > 30
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens


async def test_plain_text_gets_extractive_summary(llm: AsyncOpenAI) -> None:
    text = "Temporal keeps workflow state durable. Workers poll task queues. The weather is irrelevant here."
    resp = await llm.chat.completions.create(model="m", messages=[{"role": "user", "content": text}])
    content = resp.choices[0].message.content or ""
    assert content and content in text  # extractive: whole sentences from the input


async def test_stream_matches_non_stream_and_reports_usage(llm: AsyncOpenAI) -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": CONTEXT}]
    plain = await llm.chat.completions.create(model="sim-chat", messages=messages)
    stream = await llm.chat.completions.create(
        model="sim-chat", messages=messages, stream=True, stream_options={"include_usage": True}
    )
    parts: list[str] = []
    finish = None
    usage = None
    async for chunk in stream:
        if chunk.choices:
            parts.append(chunk.choices[0].delta.content or "")
            finish = chunk.choices[0].finish_reason or finish
        if chunk.usage is not None:
            usage = chunk.usage
    assert "".join(parts) == plain.choices[0].message.content
    assert finish == "stop"
    assert usage is not None and plain.usage is not None
    assert usage.model_dump() == plain.usage.model_dump()


async def test_stream_without_include_usage_has_no_usage_chunk(llm: AsyncOpenAI) -> None:
    stream = await llm.chat.completions.create(
        model="sim-chat", messages=[{"role": "user", "content": "One. Two."}], stream=True
    )
    chunks = [c async for c in stream]
    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


async def _structured(llm: AsyncOpenAI, model: type[BaseModel], content: str) -> dict[str, object]:
    schema = model.model_json_schema()
    resp = await llm.chat.completions.create(
        model="sim-chat",
        messages=[{"role": "user", "content": content}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": model.__name__, "schema": schema, "strict": True},
        },
    )
    data = json.loads(resp.choices[0].message.content or "")
    jsonschema.validate(data, schema)
    model.model_validate(data)
    assert isinstance(data, dict)
    return data


async def test_json_schema_entities_with_evidence(llm: AsyncOpenAI) -> None:
    data = EntityList.model_validate(await _structured(llm, EntityList, "Extract the entities.\n" + CONTEXT))
    by_text = {e.text: e for e in data.entities}
    assert by_text["Acme Corp"].type == "ORG"
    assert by_text["Acme Corp"].evidence_chunk_id == "faq#7"
    assert by_text["support@acme.example"].type == "EMAIL"
    assert by_text["Jane Doe"].type == "PERSON"
    assert by_text["1889"].evidence_chunk_id == "guide#0"
    assert {e.evidence_chunk_id for e in data.entities} <= {"guide#0", "guide#1", "faq#7"}


async def test_json_schema_summary(llm: AsyncOpenAI) -> None:
    data = Summary.model_validate(await _structured(llm, Summary, "Summarize.\n" + CONTEXT))
    assert data.summary and data.summary.split(". ")[0] in CONTEXT
    assert 1 <= len(data.key_points) <= 3


class _Finding(BaseModel):
    name: str
    kind: str = Field(json_schema_extra={"enum": ["person", "organization", "other"]})
    confidence: float = Field(ge=0, le=1)


class _Report(BaseModel):
    title: str = Field(max_length=40)
    findings: list[_Finding] = Field(min_length=1, max_length=2)
    year: int = Field(ge=1800, le=2100)
    nested: Summary | None = None


async def test_json_schema_refs_bounds_and_enums(llm: AsyncOpenAI) -> None:
    data = _Report.model_validate(await _structured(llm, _Report, CONTEXT))
    assert len(data.title) <= 40
    assert data.findings[0].kind in ("person", "organization", "other")
    assert data.year == 1889


async def test_tool_called_when_prompt_names_it(llm: AsyncOpenAI) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            },
        },
        {
            "type": "function",
            "function": {
                "name": "search_docs",
                "parameters": {
                    "type": "object",
                    "properties": {"query": {"type": "string"}, "top_k": {"type": "integer"}},
                    "required": ["query", "top_k"],
                },
            },
        },
    ]
    resp = await llm.chat.completions.create(
        model="sim-chat", tools=tools, messages=[{"role": "user", "content": "Please search docs for retry policy."}]
    )
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "search_docs"
    args = json.loads(call.function.arguments)
    assert args["query"] == "Please search docs for retry policy."
    assert isinstance(args["top_k"], int)
    # After the tool result comes back, the model answers in text.
    follow = await llm.chat.completions.create(
        model="sim-chat",
        tools=tools,
        messages=[
            {"role": "user", "content": "Please search docs for retry policy."},
            choice.message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "Retries back off 1 s doubling to 60 s."},
        ],
    )
    assert follow.choices[0].finish_reason == "stop"
    assert follow.choices[0].message.content


async def test_final_answer_after_tool_calls_comes_from_the_tool_results(llm: AsyncOpenAI) -> None:
    task = "Use search_documents to find when the Eiffel Tower was completed."
    tools = [{"type": "function", "function": {"name": "search_documents", "parameters": {"type": "object"}}}]
    found = {
        "chunks": [
            {"chunk_id": "guide#1", "text": "Berlin is the capital of Germany."},
            {"chunk_id": "guide#0", "text": "The Eiffel Tower stands in Paris. It was completed in 1889."},
        ]
    }
    call = {"id": "call_1", "type": "function", "function": {"name": "search_documents", "arguments": "{}"}}
    messages = [
        {"role": "system", "content": "You are a careful agent."},
        {"role": "user", "content": task},
        {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": json.dumps(found)},
    ]
    replies = [
        (await llm.chat.completions.create(model="sim-chat", tools=tools, messages=messages)).choices[0].message
        for _ in range(2)
    ]
    text = replies[0].content or ""
    assert "completed in 1889" in text and "[guide#0]" in text and "search_documents" not in text
    assert replies[1].content == text  # deterministic
    # A tool that answered (answer_question, a sub-agent) is the source too; nothing found is said plainly.
    messages[-1]["content"] = json.dumps({"answer": "The tower was completed in 1889.", "citations": []})
    reply = await llm.chat.completions.create(model="sim-chat", tools=tools, messages=messages)
    assert reply.choices[0].message.content == "The tower was completed in 1889."
    messages[-1]["content"] = json.dumps({"chunks": []})
    reply = await llm.chat.completions.create(model="sim-chat", tools=tools, messages=messages)
    assert reply.choices[0].message.content == "The tools returned nothing to answer from."


async def test_no_tool_call_unless_asked(llm: AsyncOpenAI) -> None:
    tools = [{"type": "function", "function": {"name": "search_docs", "parameters": {"type": "object"}}}]
    resp = await llm.chat.completions.create(
        model="sim-chat", tools=tools, messages=[{"role": "user", "content": "What is Temporal?"}]
    )
    assert resp.choices[0].finish_reason == "stop"
    forced = await llm.chat.completions.create(
        model="sim-chat", tools=tools, tool_choice="required", messages=[{"role": "user", "content": "Hi."}]
    )
    assert forced.choices[0].message.tool_calls[0].function.name == "search_docs"


async def test_toolloop_marker_copies_itself_into_arguments(llm: AsyncOpenAI, unique: str) -> None:
    marker = f"[[sim:toolloop=spawn_agent#{unique}]]"
    tools = [
        {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}},
        {
            "type": "function",
            "function": {
                "name": "spawn_agent",
                "parameters": {"type": "object", "properties": {"task": {"type": "string"}}, "required": ["task"]},
            },
        },
    ]
    stream = await llm.chat.completions.create(
        model="sim-chat",
        tools=tools,
        stream=True,
        messages=[{"role": "user", "content": f"Research the topic. {marker}"}],
    )
    name, arguments, finish = "", "", None
    async for chunk in stream:
        for tc in chunk.choices[0].delta.tool_calls or []:
            name += tc.function.name or "" if tc.function else ""
            arguments += tc.function.arguments or "" if tc.function else ""
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls"
    assert name == "spawn_agent"
    task = json.loads(arguments)["task"]
    assert marker in task and "Research the topic." in task
    # The child, given that task, loops again.
    child = await llm.chat.completions.create(
        model="sim-chat", tools=tools, messages=[{"role": "user", "content": task}]
    )
    assert child.choices[0].message.tool_calls[0].function.name == "spawn_agent"


async def test_max_tokens_cuts_with_length(llm: AsyncOpenAI) -> None:
    resp = await llm.chat.completions.create(
        model="sim-chat", max_tokens=3, messages=[{"role": "user", "content": CONTEXT}]
    )
    assert resp.choices[0].finish_reason == "length"
    assert resp.usage is not None and resp.usage.completion_tokens == 3


async def test_invalid_request_is_openai_400(llm: AsyncOpenAI) -> None:
    import openai

    with pytest.raises(openai.BadRequestError) as err:
        await llm.chat.completions.create(model="sim-chat", messages=[])
    assert "messages" in str(err.value)
