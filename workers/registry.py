"""THE list of what runs where: workflows on `genai-workflows`, activities on `genai-inference` and `genai-io`.

To add a workflow: import its class in `workflows()` and return it.
To add activities: write a factory `def my_activities(deps: WorkerDeps) -> list[Callable[..., Any]]` that builds the
activity class from `deps` (settings, the shared Redis client, `deps.resources` for clean-up) and returns its bound
`@activity.defn` methods; list the factory under its queue in `activity_factories()`. Local activities (short,
cheap steps run inside the workflow worker) go under `WORKFLOWS_QUEUE`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import redis.asyncio
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from runtime.logging import get_logger
from runtime.modules import module
from runtime.redis import redis_client
from runtime.settings import Settings
from schemas import queues as queue_names

WORKFLOWS_QUEUE = queue_names.WORKFLOWS
INFERENCE_QUEUE = queue_names.INFERENCE
IO_QUEUE = queue_names.IO
ALL_QUEUES: tuple[str, ...] = queue_names.ALL

log = get_logger(__name__)

# Libraries workflow modules may import indirectly (through runtime/ or schemas/) that are not workflow code: the
# sandbox shares them instead of re-importing them per workflow run (faster, and some draw random ids at import).
PASSTHROUGH_MODULES = (
    # Our own plain modules and pydantic: re-importing them for every workflow run costs CPU and buys nothing.
    module("schemas"),
    module("activities"),
    # The workflows' pure helper modules (no module state beyond constants): imported once, not per run. In B2 the
    # sandbox re-ran citations.py (now under activities/) and friends for every job, ~4 % of the worker's CPU.
    module("workflows.prompts"),
    module("workflows.ledger"),
    module("workflows.closing"),
    "pydantic",
    "pydantic_core",
    module("runtime"),
    "structlog",
    "rich",
    "redis",
    "httpx",
    "openai",
    "chromadb",
    "opentelemetry",
    "boto3",
    "botocore",
    "aioboto3",
)


@dataclass
class WorkerDeps:
    """What activity classes are built from; one instance per worker process."""

    settings: Settings
    redis: redis.asyncio.Redis
    resources: AsyncExitStack = field(default_factory=AsyncExitStack)


ActivityFactory = Callable[[WorkerDeps], Sequence[Callable[..., Any]]]


@dataclass(frozen=True)
class Registration:
    """The workflows and activities one task queue serves."""

    workflows: Sequence[type]
    activities: Sequence[Callable[..., Any]]

    @property
    def empty(self) -> bool:
        """True when the queue has nothing to run."""
        return not self.workflows and not self.activities


def workflows() -> list[type]:
    """Workflow classes served on `genai-workflows` (imported here, lazily, so importing the registry stays cheap)."""
    from workflows.agent import AgentRun
    from workflows.answer import AnswerQuestion
    from workflows.ingest import IngestDocument

    return [AnswerQuestion, IngestDocument, AgentRun]


def inference_activities(deps: WorkerDeps) -> list[Callable[..., Any]]:
    """Model calls (chat, structured output, embeddings) and retrieval, which embeds the question."""
    from activities.inference import InferenceActivities
    from activities.llm import make_embed_llm, make_llm
    from activities.retrieval import RetrievalActivities
    from runtime.vectorindex import VectorIndex

    llm = make_llm(deps.settings)
    deps.resources.push_async_callback(llm.close)
    embed_llm = make_embed_llm(deps.settings)
    if embed_llm is not None:
        deps.resources.push_async_callback(embed_llm.close)
    inference = InferenceActivities(llm, deps.redis, deps.settings, embed_llm)
    retrieval = RetrievalActivities(inference, VectorIndex(deps.settings))
    return [inference.chat, inference.structured, inference.embed, retrieval.retrieve]


def _claims(deps: WorkerDeps) -> Any:
    """The claim store (object store under GENAI_FLOW_CLAIMS_URL), closed with the worker."""
    from runtime.at_rest import at_rest_for
    from runtime.claims import ClaimStore
    from runtime.objectstore import ObjectStore

    store = ObjectStore()
    deps.resources.push_async_callback(store.close)
    return ClaimStore(store, deps.settings.claims_base, at_rest_for(deps.settings.encryption_entries))


def ingest_activities(deps: WorkerDeps) -> list[Callable[..., Any]]:
    """IngestDocument's document steps: extract, chunk, index, remove, drop claims."""
    from activities.events import EventPublisher
    from activities.ingest import IngestActivities
    from activities.step_events import StepEvents
    from runtime.documents import DocumentRegistry
    from runtime.keys import RedisKeys
    from runtime.vectorindex import VectorIndex

    claims = _claims(deps)
    registry = DocumentRegistry(deps.redis, RedisKeys.of(deps.settings))
    events = StepEvents(EventPublisher(deps.redis, deps.settings))
    ingest = IngestActivities(claims.store, claims, VectorIndex(deps.settings), registry, events)
    return [ingest.extract_text, ingest.chunk, ingest.index_chunks, ingest.remove_document, ingest.drop_claims]


def ingest_embed_activities(deps: WorkerDeps) -> list[Callable[..., Any]]:
    """IngestDocument's bulk embeddings (chunk groups through the never-pay-twice path)."""
    from activities.events import EventPublisher
    from activities.inference import InferenceActivities
    from activities.ingest_embed import EmbedChunksActivities
    from activities.llm import make_llm
    from activities.step_events import StepEvents

    # Embeddings may live at GENAI_FLOW_EMBED_BASE_URL, apart from chat: this client only embeds.
    llm = make_llm(deps.settings, deps.settings.embed_url)
    deps.resources.push_async_callback(llm.close)
    inference = InferenceActivities(llm, deps.redis, deps.settings)
    events = StepEvents(EventPublisher(deps.redis, deps.settings))
    return [EmbedChunksActivities(inference, _claims(deps), events).embed_chunks]


def job_activities(deps: WorkerDeps) -> list[Callable[..., Any]]:
    """Bookkeeping the workflows run as local activities: dead letters, the closing ledger, job events."""
    from activities.events import EventActivities
    from activities.jobs import JobActivities
    from runtime.pricing import price_table

    jobs = JobActivities(deps.redis, deps.settings, price_table())
    return [jobs.record_dead_letter, jobs.finish_job, EventActivities(deps.redis, deps.settings).publish_event]


def agent_activities(deps: WorkerDeps) -> list[Callable[..., Any]]:
    """The agent's tool-calling model call (transcript in Redis), on the never-pay-twice chat path."""
    from activities.agent_chat import AgentChatActivities
    from activities.inference import InferenceActivities
    from activities.llm import make_llm

    llm = make_llm(deps.settings)
    deps.resources.push_async_callback(llm.close)
    # No cross-job cache for agent steps: two agents (or a sub-agent given its parent's task) send the same first
    # prompt, yet each is its own conversation and must be billed and counted as such. Retries still never pay twice.
    settings = deps.settings.model_copy(update={"cross_job_cache": False})
    inference = InferenceActivities(llm, deps.redis, settings)
    return [AgentChatActivities(inference, deps.redis, settings).agent_chat]


def user_tools_on(queue: str) -> ActivityFactory:
    """A factory for the `@agent_tool` activities (GENAI_FLOW_AGENT_TOOLS modules) that run on `queue`."""

    def factory(deps: WorkerDeps) -> list[Callable[..., Any]]:
        from activities.agent_tools import UserToolActivities

        tools = UserToolActivities(deps.redis, deps.settings)
        found = tools.for_queue(queue)
        # The catalog is a local activity of AgentRun, so it runs beside the workflows.
        return [tools.agent_tool_catalog, *found] if queue == WORKFLOWS_QUEUE else found

    factory.only_when_configured = True  # type: ignore[attr-defined]  # declares no queue by itself
    return factory


def activity_factories() -> dict[str, list[ActivityFactory]]:
    """Activity factories per task queue."""
    return {
        WORKFLOWS_QUEUE: [job_activities, user_tools_on(WORKFLOWS_QUEUE)],  # local activities of the workflows above
        # model calls, retrieval, bulk embeddings, agent turns
        INFERENCE_QUEUE: [
            inference_activities,
            ingest_embed_activities,
            agent_activities,
            user_tools_on(INFERENCE_QUEUE),
        ],
        IO_QUEUE: [
            ingest_activities,
            user_tools_on(IO_QUEUE),
        ],  # extraction, chunking, indexing, object store; user tools
    }


def declared_queues() -> list[str]:
    """Queues that have at least one workflow or activity factory (no dependency is built)."""
    factories = activity_factories()
    # User-tool factories alone declare nothing: whether they build anything depends on GENAI_FLOW_AGENT_TOOLS.
    found = [
        queue
        for queue in ALL_QUEUES
        if any(not getattr(f, "only_when_configured", False) for f in factories.get(queue, []))
    ]
    if workflows() and WORKFLOWS_QUEUE not in found:
        found.insert(0, WORKFLOWS_QUEUE)
    return found


def registrations(deps: WorkerDeps, queues: Sequence[str] = ALL_QUEUES) -> dict[str, Registration]:
    """Build the activities of the given queues from deps; queue -> its workflows and activities."""
    factories = activity_factories()
    result: dict[str, Registration] = {}
    for queue in queues:
        if queue not in factories:
            raise ValueError(f"unknown task queue {queue!r}; known: {', '.join(ALL_QUEUES)}")
        acts = [fn for factory in factories[queue] for fn in factory(deps)]
        result[queue] = Registration(workflows() if queue == WORKFLOWS_QUEUE else [], acts)
    return result


def worker_options(settings: Settings, queue: str) -> dict[str, Any]:
    """Concurrency and shutdown options for a queue's Worker (from settings)."""
    options: dict[str, Any] = {
        "graceful_shutdown_timeout": timedelta(seconds=settings.worker_shutdown_grace_s),
        "max_concurrent_activities": settings.max_concurrent_activities,
        "max_concurrent_local_activities": settings.max_concurrent_activities,
    }
    if queue == WORKFLOWS_QUEUE:
        options["max_concurrent_workflow_tasks"] = settings.max_concurrent_workflow_tasks
        options["workflow_runner"] = workflow_runner() if settings.workflow_sandbox else UnsandboxedWorkflowRunner()
    return options


def workflow_runner() -> SandboxedWorkflowRunner:
    """The workflow sandbox with PASSTHROUGH_MODULES shared (use it for in-test workers too)."""
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    )


class NothingRegistered(RuntimeError):
    """None of the requested queues has a workflow or an activity."""


def build_workers(client: Client, settings: Settings, queues: Sequence[str], deps: WorkerDeps) -> list[Worker]:
    """One Worker per requested queue that has something registered; queues with nothing are skipped with a log line."""
    workers: list[Worker] = []
    for queue, reg in registrations(deps, queues).items():
        if reg.empty:
            log.info("queue skipped: nothing registered", task_queue=queue)
            continue
        workers.append(
            Worker(
                client,
                task_queue=queue_names.queue(queue, settings.task_queue_prefix),
                workflows=list(reg.workflows),
                activities=list(reg.activities),
                **worker_options(settings, queue),
            )
        )
        log.info(
            "queue registered",
            task_queue=queue,
            workflows=[getattr(w, "__name__", str(w)) for w in reg.workflows],
            activities=len(reg.activities),
        )
    if not workers:
        raise NothingRegistered(
            f"nothing is registered for task queue(s) {', '.join(queues)}: add workflows or activity factories "
            "in workers/registry.py"
        )
    return workers


@asynccontextmanager
async def open_deps(settings: Settings) -> AsyncIterator[WorkerDeps]:
    """WorkerDeps for the life of a worker; closes the Redis client and whatever activities registered for clean-up."""
    client = redis_client(settings)
    deps = WorkerDeps(settings=settings, redis=client)
    async with deps.resources:
        deps.resources.push_async_callback(client.aclose)
        yield deps
