"""Stub activities under the real names (workers/registry.py), for workflow tests on the time-skipping test server.

Model calls still run through the production `StepRunner` (activities/attempt.py) with no Redis: failure
classification, the count of failures carried in heartbeat details, backoff and the dead-letter details are the real
code; only the model's replies are scripted (`Stubs.faults`, `Stubs.poison`, `Stubs.agent`). Ingestion's I/O steps
fail through the real `transient`/`permanent`/`superseded` helpers. Bookkeeping (events, the closing ledger, dead
letters) is recorded on the `Stubs` object instead of going to Redis, so a test reads what the workflow sent.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import httpx2
import openai
from pydantic import BaseModel
from temporalio import activity

from activities.attempt import StepRunner, idempotency_key
from activities.events import EventPublisher
from activities.retrieval import within_gap
from runtime.pricing import price_table
from runtime.settings import get_settings
from schemas import queues
from schemas.agent import AgentChatRequest, AgentChatResult, ToolBinding, ToolResult, UserToolCall
from schemas.answer import RetrievedChunk
from schemas.dlq import DeadLetterEntry, FinishedJob, FinishJob
from schemas.events import EventType, PublishEventInput
from schemas.inference import ChatRequest, ChatResult, StructuredRequest, StructuredResult, ToolCall, ToolSpec
from schemas.ingest import IngestOutcome
from schemas.ingest_steps import (
    ChunkRequest,
    ChunkResult,
    ClaimRef,
    EmbedChunksRequest,
    EmbedChunksResult,
    ExtractRequest,
    ExtractResult,
    IndexRequest,
    IndexResult,
    RemoveRequest,
)
from schemas.retrieval import RetrieveRequest, RetrieveResult
from schemas.usage import Usage

CORPUS = [
    RetrievedChunk(chunk_id="zephyr.md@v1#0", source="zephyr.md", score=0.82,
                   text="The Zephyr reactor was commissioned in 1987 by Dr. Amelia Hartwell in Lisbon."),
    RetrievedChunk(chunk_id="orchard.md@v1#0", source="orchard.md", score=0.41,
                   text="The Harlow orchard was planted by Thomas Greaves in 1911 near Canterbury."),
    RetrievedChunk(chunk_id="comet.md@v1#0", source="comet.md", score=0.33,
                   text="Comet Veyra returns every 71 years; Lucia Moreno first catalogued it."),
]  # fmt: skip
ANSWER = "Dr. Amelia Hartwell commissioned the Zephyr reactor in 1987. [zephyr.md@v1#0]"
SHOUT = ToolSpec(name="shout", description="Upper-case a text.", parameters={"type": "object", "properties": {}})
AgentScript = Callable[[AgentChatRequest], AgentChatResult]


def usage(prompt: int = 40, completion: int = 10) -> Usage:
    """What one scripted model call bills."""
    billed = prompt + completion
    return Usage(model="sim-chat", prompt_tokens=prompt, completion_tokens=completion, billed_tokens=billed)


def http_error(status: int, retry_after_ms: int | None = None) -> openai.APIStatusError:
    """An error as the OpenAI SDK raises it for an HTTP status (the production classifier maps it)."""
    headers = {"retry-after-ms": str(retry_after_ms)} if retry_after_ms is not None else {}
    request = httpx2.Request("POST", "http://model.invalid/v1/chat/completions")
    response = httpx2.Response(status, headers=headers, request=request)
    return openai.APIStatusError(f"HTTP {status} from the stub model", response=response, body=None)


def reply_length(req: AgentChatRequest) -> int:
    """The transcript's length once the reply is appended (what `agent_chat` reports)."""
    return req.transcript_len + len(req.append) + 1


def toolloop(tool: str = "shout", arguments: dict[str, Any] | None = None) -> AgentScript:
    """An agent model that always calls `tool` (as the simulator's `[[sim:toolloop=TOOL]]` does)."""

    def reply(req: AgentChatRequest) -> AgentChatResult:
        call = ToolCall(id=f"call-{req.step}", name=tool, arguments=json.dumps(arguments or {"text": "again"}))
        return AgentChatResult(tool_calls=[call], usage=usage(), transcript_len=reply_length(req))

    return reply


def answers(text: str = "All done.") -> AgentScript:
    """An agent model that answers at once, without tools."""
    return lambda req: AgentChatResult(content=text, usage=usage(), transcript_len=reply_length(req))


class Stubs:
    """One test's stub activities and what they saw; `registrations()` says which queue serves which."""

    def __init__(self) -> None:
        settings = get_settings()
        self.runner = StepRunner(None, EventPublisher(None, settings), settings)
        self.prices = price_table()
        self.corpus = list(CORPUS)
        self.answer = ANSWER
        self.finish_reason = "stop"
        self.gate: asyncio.Event | None = None  # when set, model calls wait for it (to act while a step runs)
        self.together: dict[str, int] = {}  # activity -> attempts that wait for each other (proves they overlap)
        self.agent: AgentScript = toolloop()
        self.faults: dict[str, list[BaseException]] = {}  # step -> model errors raised, in order, before it answers
        self.poison: set[str] = set()  # steps whose model always answers HTTP 500
        self.io_faults: dict[str, Callable[[int], BaseException | None]] = {}  # I/O step -> error of attempt n
        self.index_result: IndexResult | None = None  # what index_chunks answers (default: every chunk indexed)
        self.remove_result = IndexResult(outcome=IngestOutcome.REMOVED, removed_chunks=3)
        self.chunk_groups = 1
        self.claims_drop_fails = False
        self.calls: list[tuple[str, Any]] = []  # (activity, input) as they arrived, retries included
        self.model_calls: Counter[str] = Counter()  # model calls per step
        self.billed: dict[str, int] = {}  # idempotency key (`<workflow id>/<step>`) -> tokens billed under it
        self.events: list[PublishEventInput] = []
        # Local activities run at least once (again when a workflow task is retried), so these keep what the real
        # stores keep: the first terminal event of a run (the publisher's once-marker), one dead letter per job.
        self.finished: list[FinishJob] = []
        self.closed_runs: set[str] = set()
        self.dead_letters: dict[str, DeadLetterEntry] = {}
        self.running: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()  # most attempts of an activity running at once
        self.met: Counter[str] = Counter()

    def inputs(self, name: str) -> list[Any]:
        """The inputs `name` was called with, in order."""
        return [arg for called, arg in self.calls if called == name]

    def registrations(self) -> dict[str, Sequence[Callable[..., Any]]]:
        """Activities per contract queue name, as workers/registry.py spreads the real ones."""
        return {
            queues.WORKFLOWS: [self.finish_job, self.record_dead_letter, self.publish_event, self.agent_tool_catalog],
            queues.INFERENCE: [self.chat, self.structured, self.retrieve, self.embed_chunks, self.agent_chat],
            queues.IO: [self.extract_text, self.chunk, self.index_chunks, self.remove_document, self.drop_claims,
                        self.shout],
        }  # fmt: skip

    # --- the model, behind the production attempt logic

    async def _model(self, name: str, call: Any, step: str, reply: Callable[[], BaseModel], record: bool = True) -> Any:
        if record:
            self.calls.append((name, call))
        self.running[name] += 1
        self.peak[name] = max(self.peak[name], self.running[name])

        async def compute(_ctx: object) -> BaseModel:
            self.model_calls[step] += 1
            if self.gate is not None:
                await self.gate.wait()
            if name in self.together:  # wait (a bounded while) until the others have started too
                self.met[name] += 1
                for _ in range(1000):
                    if self.met[name] >= self.together[name]:
                        break
                    await asyncio.sleep(0.01)
            if step in self.poison:
                raise http_error(500)
            if pending := self.faults.get(step):
                raise pending.pop(0)
            return reply()

        try:
            result = await self.runner.run(call, BaseModel, compute)
        finally:
            self.running[name] -= 1
        self.billed[idempotency_key(call)] = result.usage.billed_tokens  # type: ignore[attr-defined]
        return result

    @activity.defn(name="retrieve")
    async def retrieve(self, req: RetrieveRequest) -> RetrieveResult:
        """The top-k of a fixed scored corpus, cut at the score gap by the production rule."""
        chunks = within_gap(self.corpus[: req.top_k], req.score_gap)
        result: RetrieveResult = await self._model(
            "retrieve", req, req.step, lambda: RetrieveResult(chunks=chunks, usage=usage(8, 0))
        )
        return result

    @activity.defn(name="structured")
    async def structured(self, req: StructuredRequest) -> StructuredResult:
        """A summary or an entity list of the corpus."""
        data: dict[str, Any] = {"summary": "A reactor commissioned in 1987.", "key_points": []}
        if req.schema_name == "entities":
            data = {"entities": [{"text": "Amelia Hartwell", "type": "person", "evidence_chunk_id": "zephyr.md@v1#0"}]}
        result: StructuredResult = await self._model(
            "structured", req, req.step, lambda: StructuredResult(data=data, usage=usage())
        )
        return result

    @activity.defn(name="chat")
    async def chat(self, req: ChatRequest) -> ChatResult:
        """The scripted answer."""
        reply = ChatResult(content=self.answer, finish_reason=self.finish_reason, usage=usage(60, 20))
        result: ChatResult = await self._model("chat", req, req.step, lambda: reply)
        return result

    @activity.defn(name="agent_chat")
    async def agent_chat(self, req: AgentChatRequest) -> AgentChatResult:
        """The agent's scripted reply (`Stubs.agent`)."""
        # As the real activity does: the model call is a chat call on the never-pay-twice path, events to the root.
        call = ChatRequest(
            step=req.step, index=req.index, job_id=req.events_job_id, messages=req.append, tools=req.tools
        )
        self.calls.append(("agent_chat", req))
        result: AgentChatResult = await self._model("chat", call, req.step, lambda: self.agent(req), record=False)
        return result

    @activity.defn(name="embed_chunks")
    async def embed_chunks(self, req: EmbedChunksRequest) -> EmbedChunksResult:
        """A claim of vectors for one chunk group."""
        vectors = ClaimRef(uri=f"mem://{req.claim_prefix}/vectors/{req.group}", sha256="0" * 64, size=1)
        reply = EmbedChunksResult(vectors=vectors, count=2, usage=usage(30, 0))
        result: EmbedChunksResult = await self._model("embed_chunks", req, f"embed#{req.group}", lambda: reply)
        return result

    # --- ingestion's I/O steps

    def _io(self, name: str, arg: Any) -> None:
        self.calls.append((name, arg))
        fault = self.io_faults.get(name)
        if fault is not None and (err := fault(activity.info().attempt)) is not None:
            raise err

    @activity.defn(name="extract_text")
    async def extract_text(self, req: ExtractRequest) -> ExtractResult:
        """A one-page text claim."""
        self._io("extract_text", req)
        text = ClaimRef(uri=f"mem://{req.claim_prefix}/text.json", sha256="0" * 64, size=120)
        return ExtractResult(text=text, content_type="text/markdown", pages=1, chars=120)

    @activity.defn(name="chunk")
    async def chunk(self, req: ChunkRequest) -> ChunkResult:
        """`chunk_groups` group claims of two chunks each."""
        self._io("chunk", req)
        groups = [
            ClaimRef(uri=f"mem://{req.claim_prefix}/chunks/{n:05d}.json", sha256="0" * 64, size=10)
            for n in range(self.chunk_groups)
        ]
        return ChunkResult(groups=groups, chunks=2 * self.chunk_groups)

    @activity.defn(name="index_chunks")
    async def index_chunks(self, req: IndexRequest) -> IndexResult:
        """Every chunk indexed, unless the test set another answer."""
        self._io("index_chunks", req)
        return self.index_result or IndexResult(outcome=IngestOutcome.INDEXED, chunks=2 * len(req.groups))

    @activity.defn(name="remove_document")
    async def remove_document(self, req: RemoveRequest) -> IndexResult:
        """The test's `remove_result`."""
        self._io("remove_document", req)
        return self.remove_result

    @activity.defn(name="drop_claims")
    async def drop_claims(self, claim_prefix: str) -> int:
        """Forget the run's claims (or fail, when the test says so)."""
        self._io("drop_claims", claim_prefix)
        if self.claims_drop_fails:
            raise RuntimeError("claim store unavailable")
        return 1

    # --- the agent's user tool and bookkeeping (local activities of the workflows)

    @activity.defn(name="agent_tool_catalog")
    async def agent_tool_catalog(self, names: list[str] | None) -> list[ToolBinding]:
        """One user tool, `shout`, on genai-io."""
        return [ToolBinding(spec=SHOUT, queue=queues.IO)]

    @activity.defn(name="tool.shout")
    async def shout(self, call: UserToolCall) -> ToolResult:
        """The user tool: its arguments upper-cased."""
        self.calls.append(("tool.shout", call))
        return ToolResult(content=json.dumps({"result": call.arguments.upper()}))

    @activity.defn(name="publish_event")
    async def publish_event(self, event: PublishEventInput) -> str | None:
        """Keep a job-level event."""
        self.events.append(event)
        return None

    @activity.defn(name="finish_job")
    async def finish_job(self, job: FinishJob) -> FinishedJob:
        """Price the ledger with the production price table; keep the run's first terminal event."""
        run_id = activity.info().workflow_run_id or job.job_id
        if run_id not in self.closed_runs:
            self.closed_runs.add(run_id)
            self.finished.append(job)
        steps = [s.model_copy(update={"cost_usd": self.prices.cost(s.usage)}) for s in job.steps]
        return FinishedJob(steps=steps, cost_usd=sum(s.cost_usd for s in steps))

    @activity.defn(name="record_dead_letter")
    async def record_dead_letter(self, entry: DeadLetterEntry) -> None:
        """Keep a dead letter (one per job: a second write replaces it, as in Redis)."""
        self.dead_letters[entry.job_id] = entry

    def event_types(self) -> list[EventType]:
        """Types of the job-level events the workflows published, in order."""
        return [e.type for e in self.events]
