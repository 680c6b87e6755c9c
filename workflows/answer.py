"""AnswerQuestion: retrieve → summarize ∥ extract entities → generate answer, durably."""

from __future__ import annotations

import asyncio
from typing import Any, Protocol, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities import citations
    from activities.retry import DEFAULT_STEP_DEADLINE_S, inference_activity_options
    from schemas import queues
    from schemas.answer import AnswerRequest, AnswerResult, EntityList, RetrievedChunk, Summary
    from schemas.grounded import GroundingInput
    from schemas.inference import ChatRequest, ChatResult, InferenceCall, StructuredRequest, StructuredResult
    from schemas.jobs import Pipeline
    from schemas.retrieval import RetrieveRequest, RetrieveResult
    from schemas.usage import Usage
    from workflows import prompts
    from workflows.closing import JobCloser
    from workflows.ledger import Ledger, seconds


class _Billed(Protocol):
    usage: Usage


R = TypeVar("R", bound=_Billed)
# Citations with verbatim quotes, inferred when the model names no chunk (runs before it used prompts.citations).
VERBATIM_CITATIONS = "verbatim-citations"


@workflow.defn(name="AnswerQuestion")
class AnswerQuestion:
    """Answer a question from the indexed corpus, with citations, entities, a summary and a token ledger."""

    def __init__(self) -> None:
        self.ledger = Ledger(None)
        self.closer = JobCloser(Pipeline.ANSWER, self.ledger)
        self.options: dict[str, Any] = {}
        self.inference_queue = queues.INFERENCE

    @workflow.run
    async def run(self, req: AnswerRequest) -> AnswerResult:
        """The pipeline: each step an activity on genai-inference; failures that give up dead-letter the job."""
        self.ledger = Ledger(req.token_limit)
        self.closer = JobCloser(Pipeline.ANSWER, self.ledger)
        self.inference_queue = queues.sibling(workflow.info().task_queue, queues.INFERENCE)
        self.options = inference_activity_options(seconds(req.step_deadline_s, DEFAULT_STEP_DEADLINE_S))
        started = workflow.time()
        try:
            chunks = await self.retrieve(req)
            summary, entities = await asyncio.gather(self.summarize(req, chunks), self.extract_entities(req, chunks))
            reply = await self.generate_answer(req, chunks, summary, entities)
        except Exception as err:
            await self.closer.fail(req, err)
            raise
        answer, found, grounding = reply.content, entities.entities, None
        if reply.grounded is not None:  # checked in the chat step (runs that predate the check carry none)
            answer, found, grounding = reply.grounded.answer, reply.grounded.entities, reply.grounded.grounding
        verdict = {"verdict": grounding.verdict.value, "score": grounding.score} if grounding else {}
        finished = await self.closer.finish("job.completed", {"answer": answer[:200], **verdict})
        if reply.grounded is not None:
            cited, truncated = reply.grounded.citations, reply.finish_reason == "length"
        elif workflow.patched(VERBATIM_CITATIONS):
            cited, truncated = citations.cite(answer, chunks, req.question), reply.finish_reason == "length"
        else:
            cited, truncated = prompts.citations(answer, chunks), False
        return AnswerResult(
            question=req.question,
            answer=answer,
            citations=cited,
            truncated=truncated,
            grounding=grounding,
            entities=found,
            summary=summary,
            steps=finished.steps,
            usage=self.ledger.total,
            cost_usd=finished.cost_usd,
            duration_ms=(workflow.time() - started) * 1000,
        )

    async def retrieve(self, req: AnswerRequest) -> list[RetrievedChunk]:
        """Embed the question and take the top-k chunks of the collection (those near the best, with a score gap)."""
        result = await self._call(
            "retrieve",
            RetrieveRequest(
                step="retrieve",
                question=req.question,
                collection=req.collection,
                top_k=req.top_k,
                score_gap=req.score_gap,
            ),
            RetrieveResult,
            f"retrieve: top-{req.top_k} of {req.collection}",
        )
        return result.chunks

    async def summarize(self, req: AnswerRequest, chunks: list[RetrievedChunk]) -> Summary:
        """A short summary of the retrieved context (structured output)."""
        call = StructuredRequest(
            step="summarize", schema_name="summary", messages=prompts.summarize_messages(req.question, chunks)
        )
        result = await self._call("structured", call, StructuredResult, "summarize: context summary")
        return Summary.model_validate(result.data)

    async def extract_entities(self, req: AnswerRequest, chunks: list[RetrievedChunk]) -> EntityList:
        """Named entities of the context with the chunk that evidences each (structured output)."""
        call = StructuredRequest(
            step="extract_entities", schema_name="entities", messages=prompts.entities_messages(req.question, chunks)
        )
        result = await self._call("structured", call, StructuredResult, "extract_entities: entities with evidence")
        return EntityList.model_validate(result.data)

    async def generate_answer(
        self, req: AnswerRequest, chunks: list[RetrievedChunk], summary: Summary, entities: EntityList
    ) -> ChatResult:
        """The answer, streamed token by token to the job's events, asked to cite chunk ids; checked against them."""
        call = ChatRequest(
            step="generate_answer",
            stream=True,
            messages=prompts.answer_messages(req.question, chunks, summary),
            stop=prompts.STOP_SEQUENCES,
            grounding=GroundingInput(question=req.question, chunks=chunks, entities=entities.entities),
        )
        return await self._call("chat", call, ChatResult, "generate_answer: streamed answer with citations")

    async def _call(self, activity: str, arg: InferenceCall, result_type: type[R], summary: str) -> R:
        """Run one inference step and book its usage in the ledger."""
        began = workflow.time()
        try:
            result: R = await workflow.execute_activity(
                activity, arg, result_type=result_type, task_queue=self.inference_queue, summary=summary, **self.options
            )
        except ActivityError:
            self.closer.failed(arg.step)  # parallel steps: the first to fail names the dead letter
            raise
        self.ledger.add(arg.step, result.usage, began)
        return result
