"""Tool calls: whether the simulated model calls a tool, which one, and with what arguments."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sim.fieldtext import words_of
from sim.markers import Markers
from sim.models import Tool
from sim.schemafill import fill
from sim.textgen import Source

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
