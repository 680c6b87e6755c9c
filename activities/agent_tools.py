"""User tools for AgentRun: `@agent_tool` turns a typed Python function into a tool the model can call.

The function's type hints become the tool's JSON schema (a pydantic model built from the signature, or the one
pydantic model it takes); the tool runs as the activity `tool.<name>` on the task queue it names. Workers import
the modules listed in `GENAI_FLOW_AGENT_TOOLS` (comma list) so their decorators register the tools; the workflow
asks the `agent_tool_catalog` local activity which tools exist. See docs/agents.md.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import redis.asyncio
from pydantic import BaseModel, TypeAdapter, ValidationError, create_model
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.events import EventPublisher
from runtime.settings import Settings
from schemas import queues
from schemas.agent import BUILTIN_TOOLS, ToolBinding, ToolResult, UserToolCall
from schemas.events import EventType
from schemas.inference import ToolSpec

F = TypeVar("F", bound=Callable[..., Any])
MAX_RESULT_CHARS = 20_000  # a tool's result goes into the transcript and the next prompt: keep it bounded


@dataclass(frozen=True)
class UserTool:
    """A registered tool: its schema, the function behind it and where it runs."""

    name: str
    description: str
    queue: str
    fn: Callable[..., Any]
    args_model: type[BaseModel]
    model_arg: bool  # the function takes the whole arguments model as its one parameter
    timeout_s: float

    def binding(self) -> ToolBinding:
        """The tool as the workflow offers it to the model."""
        schema = self.args_model.model_json_schema()
        schema.pop("title", None)
        return ToolBinding(
            spec=ToolSpec(name=self.name, description=self.description, parameters=schema),
            queue=self.queue,
            start_to_close_s=self.timeout_s,
        )

    async def invoke(self, arguments: str) -> Any:
        """Validate the model's JSON arguments and call the function (sync functions run in a thread)."""
        args = self.args_model.model_validate_json(arguments or "{}")
        call: Callable[[], Any] = (lambda: self.fn(args)) if self.model_arg else (lambda: self.fn(**dict(args)))
        if inspect.iscoroutinefunction(self.fn):
            return await call()
        return await asyncio.to_thread(call)


TOOLS: dict[str, UserTool] = {}


def agent_tool(
    fn: F | None = None,
    *,
    name: str | None = None,
    queue: str = queues.IO,
    description: str | None = None,
    timeout_s: float = 60.0,
) -> Any:
    """Register a typed function as an agent tool (`@agent_tool` or `@agent_tool(queue="genai-io", name=...)`)."""

    def register(func: F) -> F:
        tool_name = name or func.__name__
        if tool_name in BUILTIN_TOOLS:
            raise ValueError(f"{tool_name!r} is a built-in tool name")
        existing = TOOLS.get(tool_name)
        if existing is not None and existing.fn is not func:
            raise ValueError(f"agent tool {tool_name!r} is registered twice")
        args_model, model_arg = _arguments_model(func, tool_name)
        doc = description or (inspect.getdoc(func) or "").split("\n\n")[0].strip()
        TOOLS[tool_name] = UserTool(tool_name, doc, queue, func, args_model, model_arg, timeout_s)
        return func

    return register(fn) if fn is not None else register


def _arguments_model(func: Callable[..., Any], tool_name: str) -> tuple[type[BaseModel], bool]:
    """The pydantic model of a function's arguments: its one BaseModel parameter, or one built from the hints."""
    hints = typing.get_type_hints(func)
    params = list(inspect.signature(func).parameters.values())
    if len(params) == 1:
        only = hints.get(params[0].name)
        if inspect.isclass(only) and issubclass(only, BaseModel):
            return only, True
    fields: dict[str, Any] = {}
    for param in params:
        if param.name not in hints:
            raise TypeError(f"agent tool {tool_name!r}: parameter {param.name!r} needs a type hint")
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (hints[param.name], default)
    model: type[BaseModel] = create_model(f"{tool_name}_arguments", **fields)
    return model, False


def load_tool_modules(modules: Sequence[str]) -> None:
    """Import the modules whose decorators register tools (GENAI_FLOW_AGENT_TOOLS)."""
    for module in modules:
        importlib.import_module(module)


def _content(value: Any) -> str:
    text = value if isinstance(value, str) else TypeAdapter(Any).dump_json(value).decode()
    return text if len(text) <= MAX_RESULT_CHARS else text[:MAX_RESULT_CHARS] + "…[truncated]"


class UserToolActivities:
    """One activity per registered tool on a queue, plus the catalog the workflow reads tools from."""

    def __init__(self, redis: redis.asyncio.Redis | None, settings: Settings) -> None:
        load_tool_modules(settings.agent_tool_modules)
        self.events = EventPublisher(redis, settings)

    def for_queue(self, queue: str) -> list[Callable[..., Any]]:
        """The `tool.<name>` activities of the tools that run on `queue` (a contract queue name)."""
        return [self._activity(tool) for tool in TOOLS.values() if tool.queue == queue]

    def _activity(self, tool: UserTool) -> Callable[..., Any]:
        events = self.events

        async def run_tool(call: UserToolCall) -> ToolResult:
            await events.publish(call.job_id, EventType.STEP_STARTED, call.step, {"attempt": activity.info().attempt})
            try:
                value = await tool.invoke(call.arguments)
                content = _content(value)
            except ValidationError as err:
                # The model's mistake, not the tool's: it reads the error and may call again correctly.
                content = json.dumps({"error": f"invalid arguments for {tool.name}: {err.errors(include_url=False)}"})
            except ApplicationError:
                raise
            except Exception as err:
                # A tool that raises tells the model what went wrong; the run goes on (a crash still retries).
                content = json.dumps({"error": f"{type(err).__name__}: {err}"})
            await events.publish(call.job_id, EventType.STEP_COMPLETED, call.step, {"tool": tool.name})
            return ToolResult(content=content)

        run_tool.__name__ = f"tool_{tool.name}"
        return activity.defn(name=f"tool.{tool.name}")(run_tool)

    @activity.defn(name="agent_tool_catalog")
    async def agent_tool_catalog(self, names: list[str] | None) -> list[ToolBinding]:
        """The registered user tools (all, or the named ones, in that order); an unknown name is a clear error."""
        if names is None:
            return [tool.binding() for tool in TOOLS.values()]
        unknown = [n for n in names if n not in TOOLS]
        if unknown:
            known = ", ".join(sorted(TOOLS)) or "none registered"
            raise ApplicationError(
                f"unknown agent tool(s) {', '.join(unknown)} (known: {known})", type="UnknownTool", non_retryable=True
            )
        return [TOOLS[n].binding() for n in names]
