"""Replay tests: recorded AnswerQuestion histories must replay against today's workflow code without divergence.

Recorded histories live in tests/histories/. After a deliberate, patched workflow change, record new ones with
`GENAI_FLOW_RECORD_HISTORIES=<patch id> pytest tests/test_replay.py` (files `answer-<outcome>-<patch id>.json`)
and keep the old ones: both must replay.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from schemas.answer import AnswerRequest
from schemas.jobs import JobStatus, Pipeline
from tests.helpers import index_facts, private_settings, running_workers
from workflows.answer import AnswerQuestion

HISTORIES = Path(__file__).parent / "histories"


def scrubbed(history_json: str) -> str:
    """History JSON without stack traces and worker identities: they name the recording machine, not the code."""

    def scrub(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: ("" if k == "stackTrace" else "recorder" if k == "identity" else scrub(v)) for k, v in node.items()
            }
        if isinstance(node, list):
            return [scrub(v) for v in node]
        if isinstance(node, str):  # identities and sticky queues are `<pid>@<hostname>...`
            return re.sub(r"\d+@" + re.escape(socket.gethostname()), "0@recorder", node)
        return node

    return json.dumps(scrub(json.loads(history_json)), indent=1)


def replayer() -> Replayer:
    """A replayer for the answer workflow with the project's data converter."""
    return Replayer(workflows=[AnswerQuestion], data_converter=pydantic_data_converter)


@pytest.mark.parametrize("path", sorted(HISTORIES.glob("answer-*.json")), ids=lambda p: p.stem)
async def test_recorded_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None, result.replay_failure


def test_recorded_histories_exist() -> None:
    # Without recorded histories the parametrised test above would silently check nothing.
    assert len(list(HISTORIES.glob("answer-*.json"))) >= 2


async def test_fresh_runs_replay(servers: dict[str, str], client: Client, unique: str, tmp_path: Path) -> None:
    settings = private_settings(unique)
    collection = f"facts-{unique}"
    await index_facts(tmp_path, collection, settings)
    questions = {
        "completed": "Who catalogued Comet Veyra?",
        "dead_lettered": f"What grows in the Harlow orchard? [[sim:poison#{unique}]]",
    }
    async with running_workers(client, settings) as flow:
        jobs = {
            name: (await flow.start(Pipeline.ANSWER, AnswerRequest(question=q, collection=collection))).job_id
            for name, q in questions.items()
        }
        infos = {name: await asyncio.wait_for(flow.wait(job), 120) for name, job in jobs.items()}
    assert infos["completed"].status is JobStatus.COMPLETED
    assert infos["dead_lettered"].status is JobStatus.DEAD_LETTERED
    for name, job in jobs.items():
        history = await client.get_workflow_handle(job).fetch_history()
        result = await replayer().replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, (name, result.replay_failure)
        if tag := os.environ.get("GENAI_FLOW_RECORD_HISTORIES"):
            HISTORIES.mkdir(exist_ok=True)
            suffix = "" if tag == "1" else f"-{tag}"  # a tag keeps the histories of earlier code beside new ones
            (HISTORIES / f"answer-{name}{suffix}.json").write_text(scrubbed(history.to_json()))
