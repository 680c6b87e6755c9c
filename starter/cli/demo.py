"""What `genai-flow demo` runs once the embedded stack is up: every pipeline that exists, with results printed."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from runtime.settings import Settings
from schemas.answer import AnswerRequest
from schemas.jobs import JobStatus, Pipeline
from starter.cli.cmd_answer import print_answer
from starter.cli.corpus import chunk_count, ingest_folder
from starter.cli.demo_agent import run_agent_demo
from starter.client import GenAIFlowClient

REPO = Path(__file__).resolve().parents[2]  # starter/cli/demo.py -> the repository
DEMO_COLLECTION = "genai-flow-docs"
QUESTIONS = (
    "How many attempts does a transient failure get before the job is dead-lettered?",
    "Which port does the Temporal Web UI listen on?",
    "What does the simulator ledger record for each call?",
)


def web_ui_link(settings: Settings, job_id: str) -> str:
    """The Temporal Web UI page of a job."""
    return f"http://127.0.0.1:{settings.temporal_ui_port}/namespaces/{settings.temporal_namespace}/workflows/{job_id}"


def docs_copy(target: Path) -> Path:
    """README.md and docs/ copied into target as they are (the simulator markers they quote are data); returns it."""
    for path in [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]:
        if path.is_file():
            copy = target / path.relative_to(REPO)
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_bytes(path.read_bytes())
    return target


async def run_pipelines(settings: Settings, console: Console) -> int:
    """Ingest the project's docs through IngestDocument, ask three questions, print answers; 0 when all completed."""
    client = await GenAIFlowClient.connect(settings)
    # A fixed folder under the state dir: its files keep their URIs from one demo to the next, so a second demo
    # finds them unchanged and embeds nothing again.
    corpus = docs_copy(settings.home / "demo-corpus")
    report = await ingest_folder(client, corpus, DEMO_COLLECTION)
    counts = f"{len(report.jobs)} documents ({report.summary.unchanged} unchanged), {chunk_count(report)} chunks"
    console.print(f"ingested {counts} into [bold]{DEMO_COLLECTION}[/bold]")
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
