"""Tool calls: whether the simulated model calls a tool, which one, and with what arguments."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sim.fieldtext import words_of
from sim.markers import Markers
from sim.models import ChatCompletionRequest, Tool
from sim.schemafill import fill
from sim.textgen import Chunk, Source

_TEXT_ARGS = {"query", "task", "question", "q", "prompt", "input", "search", "text", "request", "instruction", "goal"}


def choose_tool(
    tools: list[Tool] | None, tool_choice: str | dict[str, Any] | None, markers: Markers, last_role: str, user_text: str
) -> Tool | None:
    """The tool to call, or None to answer in text.

    Order: no tools or tool_choice "none" -> text; a toolloop marker -> its tool (default the first);
    a named tool_choice -> that tool; after a tool result -> text; a tool whose name the last user
    message mentions -> that tool; tool_choice "required" -> the first tool; otherwise text.
    """
    if not tools or tool_choice == "none":
        return None
    by_name = {t.function.name: t for t in tools}
    if markers.toolloop:
        return by_name.get(markers.toolloop_tool or "", tools[0])
    if isinstance(tool_choice, dict):
        name = str(tool_choice.get("function", {}).get("name", ""))
        if name in by_name:
            return by_name[name]
    if last_role == "tool":
        return None
    lowered = user_text.lower()
    for tool in tools:
        name = tool.function.name.lower()
        if name in lowered or name.replace("_", " ") in lowered:
            return tool
    return tools[0] if tool_choice == "required" else None


def arguments(tool: Tool, user_text: str, markers: Markers) -> str:
    """JSON arguments valid against the tool's parameters, from the user text; toolloop markers are copied in."""
    source = Source(text=user_text, question=" ".join(user_text.split()))
    params = tool.function.parameters or {"type": "object", "properties": {}}
    args = fill(params, source)
    if isinstance(args, dict):
        props: dict[str, Any] = params.get("properties", {})
        for key, sub in props.items():
            if not isinstance(sub, dict) or sub.get("type") != "string" or "enum" in sub or "format" in sub:
                continue
            if words_of(key) & _TEXT_ARGS:
                args[key] = " ".join(user_text.split())
            if markers.toolloop and key in args:
                # Copying the marker lets a child run that receives these arguments loop the same way.
                args[key] = f"{args[key]} {markers.toolloop_text}".strip()
    return json.dumps(args)


def call_id(seed: int, key: str, index: int) -> str:
    """A deterministic tool-call id."""
    return "call_" + hashlib.sha256(f"{seed}:{key}:{index}".encode()).hexdigest()[:24]


NOTHING_FOUND = "The tools returned nothing to answer from."


def results_source(request: ChatCompletionRequest, texts: list[str], task: str) -> Source | None:
    """After tool calls, the tool results since the last user message as the source and the task as the question.

    Chunks (`{"chunks": [{"chunk_id", "text"}]}`) stay labelled so the answer cites them; an `answer` (a tool that
    answered, a sub-agent) or any other text joins the unlabelled text. None when the last message is no tool result.
    """
    if not request.messages or request.messages[-1].role != "tool":
        return None
    chunks: list[Chunk] = []
    notes: list[str] = []
    for message, text in reversed(list(zip(request.messages, texts, strict=True))):
        if message.role == "user":
            break
        if message.role == "tool":
            _read_result(text, chunks, notes)
    chunks.reverse()
    notes.reverse()
    body = "\n\n".join([*notes, *(c.text for c in chunks)])
    return Source(text=body, chunks=chunks, question=" ".join(task.split()) or None)


def _read_result(text: str, chunks: list[Chunk], notes: list[str]) -> None:
    """Sort one tool result into labelled chunks and plain text (read from the end: callers reverse)."""
    try:
        data = json.loads(text)
    except ValueError:
        data = text
    if isinstance(data, dict):
        found = data.get("chunks")
        if isinstance(found, list):
            for item in reversed(found):
                if isinstance(item, dict) and item.get("chunk_id") and str(item.get("text", "")).strip():
                    chunks.append(Chunk(str(item["chunk_id"]), " ".join(str(item["text"]).split())))
        for key in ("answer", "result", "text", "content"):
            if isinstance(data.get(key), str) and data[key].strip():
                notes.append(data[key].strip())
    elif isinstance(data, str) and data.strip():
        notes.append(data.strip())
