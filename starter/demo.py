"""What `genai-flow demo` runs once the embedded stack is up: every pipeline that exists, with results printed."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from runtime.settings import Settings
from schemas.answer import AnswerRequest
from schemas.jobs import JobStatus, Pipeline
from starter.client import GenAIFlowClient
from starter.cmd_answer import print_answer
from starter.corpus import index_corpus
from starter.demo_agent import run_agent_demo

REPO = Path(__file__).resolve().parent.parent
DEMO_COLLECTION = "genai-flow-docs"
QUESTIONS = (
    "How many attempts does a transient failure get before the job is dead-lettered?",
    "Which port does the Temporal Web UI listen on?",
    "What does the simulator ledger record for each call?",
)


def defang_sim_markers(text: str) -> str:
    """Our docs quote simulator markers (`[[sim:hangx1]]`, ...); indexed as they are, the demo would trigger them."""
    return text.replace("[[sim:", "[sim:")


def web_ui_link(settings: Settings, job_id: str) -> str:
    """The Temporal Web UI page of a job."""
    return f"http://127.0.0.1:{settings.temporal_ui_port}/namespaces/{settings.temporal_namespace}/workflows/{job_id}"


async def run_pipelines(settings: Settings, console: Console) -> int:
    """Index the project's docs, ask three questions, print answers with citations; 0 when all completed."""
    corpus = [p for p in (REPO / "README.md", REPO / "docs") if p.exists()]
    report = await index_corpus(corpus, DEMO_COLLECTION, settings, root=REPO, prepare=defang_sim_markers)
    console.print(f"indexed {report.files} files as {report.chunks} chunks into [bold]{DEMO_COLLECTION}[/bold]")
    client = await GenAIFlowClient.connect(settings)
    started = [
        await client.start(Pipeline.ANSWER, AnswerRequest(question=q, collection=DEMO_COLLECTION)) for q in QUESTIONS
    ]
    code = 0
    for job in started:
        info = await client.wait(job.job_id)
        console.rule(info.job_id)
        print_answer(info)
        console.print(f"[dim]Web UI: {web_ui_link(settings, info.job_id)}[/dim]")
        if info.status is not JobStatus.COMPLETED:
            code = 1
    return await run_agent_demo(client, DEMO_COLLECTION, console) or code
