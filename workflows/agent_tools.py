"""The tools an AgentRun offers and how each call runs: built-ins (retrieval, child workflows) and user activities.

Deterministic workflow code. Built-ins come first, in the order CONTRACTS.md pins; a failing tool never fails the
agent: the model reads `{"error": ...}` as the tool's result and decides what to do next.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel, Field, ValidationError

    from activities.retry import DEFAULT_STEP_DEADLINE_S
    from schemas import queues
    from schemas.agent import (
        ANSWER_QUESTION,
        DEFAULT_CHILD_BUDGET_SHARE,
        SEARCH_DOCUMENTS,
        SPAWN_SUBAGENT,
        AgentCarry,
        AgentRequest,
        AgentResult,
        AgentRunInput,
        ChildScope,
        ToolBinding,
        ToolResult,
        UserToolCall,
    )
    from schemas.answer import AnswerRequest, AnswerResult
    from schemas.inference import ToolCall, ToolSpec
    from schemas.retrieval import RetrieveRequest, RetrieveResult
    from schemas.sim import inert_markers
    from schemas.usage import by_model
    from workflows.agent_bookkeeping import DEPTH_FOLLOWS_SUBAGENTS, raise_depth

CHUNK_TEXT_CHARS = 600  # per retrieved chunk in a tool result: enough to answer from, small enough for prompts


class SearchArgs(BaseModel):
    """Arguments of `search_documents`."""

    query: str = Field(min_length=1, description="What to look for in the indexed documents.")
    top_k: int = Field(4, ge=1, le=20, description="How many chunks to return.")


class QuestionArgs(BaseModel):
    """Arguments of `answer_question`."""

    question: str = Field(min_length=1, description="A question to answer from the documents, with citations.")


class SubagentArgs(BaseModel):
    """Arguments of `spawn_subagent`."""

    task: str = Field(min_length=1, description="The sub-task a new agent should carry out and report on.")


def _spec(name: str, description: str, args: type[BaseModel]) -> ToolSpec:
    schema = args.model_json_schema()
    schema.pop("title", None)
    return ToolSpec(name=name, description=description, parameters=schema)


BUILTIN_SPECS: list[ToolSpec] = [
    _spec(SEARCH_DOCUMENTS, "Search the indexed documents; returns the best-matching chunks.", SearchArgs),
    _spec(ANSWER_QUESTION, "Answer one question from the documents with citations (full RAG).", QuestionArgs),
    _spec(SPAWN_SUBAGENT, "Hand a sub-task to a new agent with its own tools; returns its answer.", SubagentArgs),
]


@dataclass
class ToolRunner:
    """Runs one agent's tool calls; `carry` is the run's compact state (depth and usage are updated here)."""

    req: AgentRequest
    carry: AgentCarry
    scope: ChildScope | None
    events_job_id: str
    options: dict[str, Any]

    def specs(self) -> list[ToolSpec]:
        """Tools offered to the model: built-ins first, then the user's (CONTRACTS.md order)."""
        return [*BUILTIN_SPECS, *(b.spec for b in self.carry.tools)]

    async def run(self, call: ToolCall, number: int) -> ToolResult:
        """Run one tool call; errors come back as the tool's result, usage is added to the run's ledger."""
        step = f"tool.{call.name}#{number}"
        try:
            result = await self._dispatch(call, step, number)
        except ValidationError as err:
            result = _error(f"invalid arguments for {call.name}: {err.errors(include_url=False)}")
        except (ActivityError, ChildWorkflowError) as err:
            cause = err.cause or err
            result = _error(f"{call.name} failed: {getattr(cause, 'message', None) or cause}")
        # A tool's result is data (document chunks, a child's answer quoting them): markers in it stay inert.
        result.content = inert_markers(result.content)
        self.carry.usage = self.carry.usage + result.usage
        billed = [result.usage] if result.ledger is None else result.ledger
        self.carry.ledger = by_model([*self.carry.ledger, *billed])
        self.carry.priced_usd += result.priced_usd
        return result

    async def _dispatch(self, call: ToolCall, step: str, number: int) -> ToolResult:
        if call.name == SEARCH_DOCUMENTS:
            return await self.search(SearchArgs.model_validate_json(call.arguments or "{}"), step)
        if call.name == ANSWER_QUESTION:
            return await self.answer(QuestionArgs.model_validate_json(call.arguments or "{}"), number)
        if call.name == SPAWN_SUBAGENT:
            return await self.spawn(SubagentArgs.model_validate_json(call.arguments or "{}"), number)
        binding = next((b for b in self.carry.tools if b.spec.name == call.name), None)
        if binding is None:
            return _error(f"no tool named {call.name!r}")
        return await self.user_tool(binding, call, step)

    async def search(self, args: SearchArgs, step: str) -> ToolResult:
        """`search_documents`: the retrieve activity (embeds through the never-pay-twice path)."""
        request = RetrieveRequest(
            step=step, question=args.query, collection=self.req.collection, top_k=args.top_k, job_id=self.events_job_id
        )
        found: RetrieveResult = await workflow.execute_activity(
            "retrieve",
            request,
            result_type=RetrieveResult,
            task_queue=queues.sibling(workflow.info().task_queue, queues.INFERENCE),
            summary=step,
            **self.options,
        )
        chunks = [{"chunk_id": c.chunk_id, "text": c.text[:CHUNK_TEXT_CHARS]} for c in found.chunks]
        return ToolResult(content=json.dumps({"chunks": chunks}), usage=found.usage)

    async def answer(self, args: QuestionArgs, number: int) -> ToolResult:
        """`answer_question`: a child AnswerQuestion; its tokens count against the budget, not the depth."""
        request = AnswerRequest(question=args.question, collection=self.req.collection, step_deadline_s=self.deadline_s)
        result: AnswerResult = await workflow.execute_child_workflow(
            "AnswerQuestion",
            request,
            id=f"{workflow.info().workflow_id}-answer{number}",
            result_type=AnswerResult,
            task_queue=workflow.info().task_queue,
            static_summary=f"answer_question #{number}",
        )
        cited = [c.chunk_id for c in result.citations]
        # The child closed its own job (priced ledger, stats): the agent adds its cost, never its tokens again.
        content = json.dumps({"answer": result.answer, "citations": cited})
        return ToolResult(content=content, usage=result.usage, ledger=[], priced_usd=result.cost_usd)

    async def spawn(self, args: SubagentArgs, number: int) -> ToolResult:
        """`spawn_subagent`: a child AgentRun at the chain's depth with a reserved slice of the remaining budget."""
        slice_ = None
        if self.carry.token_budget is not None:
            remaining = max(0, self.carry.token_budget - self.carry.usage.billed_tokens)
            slice_ = int(remaining * DEFAULT_CHILD_BUDGET_SHARE)
        root = self.scope.root_job_id if self.scope else workflow.info().workflow_id
        label = f"{self.scope.label if self.scope else ''}sub{number}."
        scope = ChildScope(
            root_job_id=root, depth=self.carry.depth, max_depth=self.carry.max_depth, token_budget=slice_, label=label
        )
        child_req = self.req.model_copy(update={"task": args.task, "token_budget": slice_})
        result: AgentResult = await workflow.execute_child_workflow(
            "AgentRun",
            AgentRunInput(**child_req.model_dump(), scope=scope),
            id=f"{workflow.info().workflow_id}-sub{number}",
            result_type=AgentResult,
            task_queue=workflow.info().task_queue,
            static_summary=f"spawn_subagent #{number} at depth {self.carry.depth}",
        )
        # Depth is the chain's: the deepest point the sub-agent reached is where this chain now stands.
        if result.depth > self.carry.depth:
            if workflow.patched(DEPTH_FOLLOWS_SUBAGENTS):
                raise_depth(self.carry, result.depth)
            else:  # runs recorded before the patch: `AgentDepth` caught up only at the next model call
                self.carry.depth = result.depth
        body: dict[str, Any] = {"usage": result.usage.model_dump(mode="json")}
        if result.stopped is not None:
            body["stopped"] = result.stopped.value
        if result.answer:
            body["answer"] = result.answer
        return ToolResult(
            content=json.dumps(body),
            usage=result.usage,
            depth=result.depth,
            ledger=[row.usage for row in result.ledger],
            priced_usd=result.cost_usd,
        )

    async def user_tool(self, binding: ToolBinding, call: ToolCall, step: str) -> ToolResult:
        """A user's `@agent_tool`: the activity `tool.<name>` on the queue it named (beside this run's queues)."""
        arg = UserToolCall(arguments=call.arguments, job_id=self.events_job_id, call_id=call.id, step=step)
        result: ToolResult = await workflow.execute_activity(
            f"tool.{binding.spec.name}",
            arg,
            result_type=ToolResult,
            task_queue=queues.sibling(workflow.info().task_queue, binding.queue or queues.IO),
            start_to_close_timeout=timedelta(seconds=binding.start_to_close_s),
            # A queue no worker serves (the tool's module missing there) must end as an error, not wait forever.
            schedule_to_close_timeout=timedelta(seconds=self.deadline_s or DEFAULT_STEP_DEADLINE_S),
            retry_policy=RetryPolicy(maximum_attempts=5),
            summary=step,
        )
        return result

    @property
    def deadline_s(self) -> float | None:
        """The step deadline the run was started with (children inherit it)."""
        return self.req.step_deadline_s


def _error(message: str) -> ToolResult:
    return ToolResult(content=json.dumps({"error": message}))
