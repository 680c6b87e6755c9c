"""What a chat completion says: text answer, structured JSON, or a tool call, with its token counts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sim.models import ChatCompletionRequest
from sim.schemafill import fill, is_valid
from sim.state import CallContext
from sim.textgen import Source, answer, parse_source
from sim.tokens import count_tokens, pieces, truncate_tokens
from sim.tools import NOTHING_FOUND, arguments, call_id, choose_tool, results_source


@dataclass
class ToolCallOut:
    """A tool call the simulated model makes."""

    id: str
    name: str
    arguments: str


@dataclass
class Completion:
    """The generated message, why it stopped, and its token counts."""

    content: str | None
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    tool_calls: list[ToolCallOut] = field(default_factory=list)
    truncate_stream_at: int | None = None  # pieces to send before cutting a stream (truncate fault)


def prompt_tokens(request: ChatCompletionRequest, texts: list[str]) -> int:
    """Tokens of every message text plus the tool calls the messages carry (at least 1)."""
    total = sum(count_tokens(t) for t in texts)
    for message in request.messages:
        for tc in message.tool_calls or []:
            total += count_tokens(tc.function.name) + count_tokens(tc.function.arguments)
    return max(1, total)


def source_of(request: ChatCompletionRequest, texts: list[str]) -> Source:
    """The text to answer from: the last user message, or all non-assistant messages when it has no chunks."""
    users = [t for m, t in zip(request.messages, texts, strict=True) if m.role == "user"]
    last = parse_source(users[-1]) if users else parse_source("")
    if last.chunks:
        return last
    others = "\n\n".join(t for m, t in zip(request.messages, texts, strict=True) if m.role != "assistant")
    whole = parse_source(others)
    if whole.chunks or not last.text.strip():
        return whole
    return last


def complete(request: ChatCompletionRequest, texts: list[str], ctx: CallContext) -> Completion:
    """The completion for a request whose markers were stripped into `texts` (raises SchemaUnsatisfiable)."""
    prompt = prompt_tokens(request, texts)
    source = source_of(request, texts)
    users = [t for m, t in zip(request.messages, texts, strict=True) if m.role == "user"]
    user_text = users[-1] if users else source.text
    tool = choose_tool(request.tools, request.tool_choice, ctx.markers, request.messages[-1].role, user_text)
    if tool is not None:
        args = arguments(tool, user_text, ctx.markers)
        if ctx.fault == "badjson":
            args = args[: max(1, len(args) // 2)]  # cut JSON: unparseable arguments
        finish = "tool_calls"
        cut_at = None
        if ctx.fault == "truncate":
            if request.stream:
                cut_at = max(1, len(pieces(args)) // 2)
            else:
                args, finish = args[: max(1, len(args) // 2)], "length"
        limit = request.token_limit
        if limit is not None and count_tokens(tool.function.name) + count_tokens(args) > limit:
            # Like a real server, the bound covers the call's name and arguments: the arguments end cut off.
            args, finish = truncate_tokens(args, max(0, limit - count_tokens(tool.function.name))), "length"
        call = ToolCallOut(call_id(ctx.seed, ctx.key, ctx.nth), tool.function.name, args)
        used = count_tokens(call.name) + count_tokens(call.arguments)
        return Completion(None, finish, prompt, used, [call], truncate_stream_at=cut_at)

    fmt = request.response_format
    limit = request.token_limit
    if fmt is not None and fmt.type == "json_schema" and fmt.json_schema is not None:
        schema = fmt.json_schema.schema_ or {"type": "object"}
        content = json.dumps(fill(schema, source))
        if ctx.markers.loops(fmt.json_schema.name):
            limit = limit or LOOP_UNBOUNDED_TOKENS  # unbounded, a loop runs until the context window ends it
            content = _json_loop(content, limit)
        elif ctx.fault == "badjson":
            content = _bad_json(content, schema, ctx.rng.random())
    elif fmt is not None and fmt.type == "json_object":
        content = json.dumps({"answer": answer(source)})
    elif (results := results_source(request, texts, user_text)) is not None:
        # The final answer after tool calls comes from what the tools returned, never from the task itself.
        content = answer(results, cite=not ctx.markers.nocite) or NOTHING_FOUND
    else:
        content = answer(source, cite=not ctx.markers.nocite) or "OK."
    finish = "stop"
    if limit is not None and count_tokens(content) > limit:
        content, finish = truncate_tokens(content, limit), "length"
    result = Completion(content, finish, prompt, count_tokens(content))
    if ctx.fault == "truncate":
        half = max(1, count_tokens(content) // 2)
        if request.stream:
            result.truncate_stream_at = max(1, len(pieces(content)) // 2)
        else:
            result.content = truncate_tokens(content, half)
            result.finish_reason = "length"
            result.completion_tokens = count_tokens(result.content)
    return result


LOOP_UNBOUNDED_TOKENS = 4096  # where a looping reply stops when the request set no bound (a context window)


def _json_loop(valid: str, limit: int) -> str:
    """A reply that opens the valid JSON's first string and repeats itself in it, past `limit` tokens."""
    start = valid.find('": "')
    head = valid[: start + 4] if start >= 0 else '{"text": "'
    # More text than the bound: the max_tokens check below cuts it with finish_reason "length", as a server would.
    return head + "and again " * (limit // 2 + 1)


def _bad_json(valid: str, schema: dict[str, object], draw: float) -> str:
    """Invalid structured output: prose around cut-off JSON, or JSON of the wrong shape."""
    wrong = json.dumps({"error": "simulated invalid output"})
    if draw < 0.5 and not is_valid(schema, json.loads(wrong)):
        return wrong
    return "Sure! Here is the JSON you asked for:\n" + valid[: max(1, len(valid) // 2)]
