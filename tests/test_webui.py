"""Temporal Web UI readability: a job's static summary and details say what it is before any worker ran it."""

from __future__ import annotations

from temporalio.client import Client

from schemas.answer import AnswerRequest
from schemas.jobs import Pipeline
from starter.client import GenAIFlowClient
from tests.helpers import private_settings


async def test_started_job_has_summary_and_details(servers: dict[str, str], client: Client, unique: str) -> None:
    flow = GenAIFlowClient(client, private_settings(unique))  # no worker on these queues: the job just waits
    request = AnswerRequest(question="Who commissioned | the Zephyr reactor?\nAnd when?", collection=f"c-{unique}")
    started = await flow.start(Pipeline.ANSWER, request, owner="cli:tester", replay_of="answer-earlier")
    handle = flow.handle(started.job_id)
    try:
        description = await handle.describe()
        assert await description.static_summary() == f"answer: {request.question[:80]}"
        details = await description.static_details()
        assert details is not None
        assert details.startswith("**answer** job · owner `cli:tester` · replay of `answer-earlier`")
        assert "| question | Who commissioned \\| the Zephyr reactor? And when? |" in details
        assert f"| collection | c-{unique} |" in details and "| top_k | 4 |" in details
    finally:
        await handle.terminate("test done")
