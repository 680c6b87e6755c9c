"""Faults in every pipeline, not only answers: F1 at each step's fault points, F6 during ingestion, F8 runaway agents.

Jobs of each pipeline start as a user starts them (answers and agents through the gateway, ingestions with
`genai-flow ingest`) and are followed through the gateway; the simulator's ledger is the referee, as for answers.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import threading
import time

import httpx

from activities.faults import FAULT_EXIT_CODE
from runtime.settings import Settings
from schemas import queues
from schemas.agent import AgentRequest
from schemas.answer import AnswerRequest
from schemas.jobs import Pipeline
from schemas.sim import SimLedgerCall, SimLedgerEntry
from starter.client import GenAIFlowClient
from tests.faults.harness import CLOSED, FaultRow, FaultStack, billed
from tests.test_stack import BIN

RUN = ".venv/bin/python -m tests.faults.run"


def start_agents(
    stack: FaultStack, http: httpx.Client, tag: str, jobs: int, marker: str = "", **limits: float
) -> list[str]:
    """Agents through the gateway (`marker` e.g. `toolloop`, tagged per job); `limits`: max_depth, token_budget ..."""
    ids = []
    for n in range(jobs):
        loop = f"[[sim:{marker}#{tag}-{n}]]" if marker else ""
        body = {"task": f"What survives a crash? {tag}-{n} [[sim:latency=1s]] {loop}", **limits}
        started = http.post("/v1/agents", json=body)
        assert started.status_code == 202, started.text
        ids.append(str(started.json()["job_id"]))
    return ids


def start_ingestions(stack: FaultStack, tag: str, jobs: int, prefix: str = "") -> list[str]:
    """`jobs` documents of several chunks each, ingested with `genai-flow ingest`; their embed calls take 1 s.

    `prefix`: start them on that task-queue prefix (the workers serving it), not the stack's queues.
    """
    # Document text is data (markers in it are inert), so the delay is armed in the simulator by a word of the text.
    armed = httpx.post(f"{stack.sim}/sim/faults", json={"match": tag, "marker": "latency=1s"}, timeout=30)
    armed.raise_for_status()
    docs = stack.home.parent / f"docs-{tag}"
    docs.mkdir()
    for n in range(jobs):
        paragraphs = [f"Section {k} of note {n} ({tag}): a crash of any part leaves the index whole." for k in range(9)]
        (docs / f"note-{n}.md").write_text(f"# Note {n}\n\n" + "\n\n".join(p * 6 for p in paragraphs) + "\n")
    argv = [str(BIN / "genai-flow"), "ingest", str(docs), "--json"]
    env = {**stack.env, "GENAI_FLOW_TASK_QUEUE_PREFIX": prefix} if prefix else stack.env
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return [str(job["job_id"]) for job in json.loads(done.stdout)["jobs"]]


def start_prefixed(stack: FaultStack, prefix: str, pipeline: str, tag: str, jobs: int) -> list[str]:
    """Start `jobs` of a pipeline (model calls of 1 s) on task-queue prefix `prefix`, as the gateway would start them.

    The gateway starts jobs on the stack's queues; these go through the same client, with the prefix in its settings.
    """
    if pipeline == "ingest":
        return start_ingestions(stack, tag, jobs, prefix)
    settings = Settings.model_validate({**stack.env, "GENAI_FLOW_TASK_QUEUE_PREFIX": prefix})  # by variable name
    text = f"What survives a crash? {tag}-{{n}} [[sim:latency=1s]]"
    kind, requests = (
        (Pipeline.ANSWER, [AnswerRequest(question=text.format(n=n)) for n in range(jobs)])
        if pipeline == "answer"
        else (Pipeline.AGENT, [AgentRequest(task=text.format(n=n)) for n in range(jobs)])
    )

    async def start() -> list[str]:
        async with await GenAIFlowClient.connect(settings) as client:
            return [(await client.start(kind, request)).job_id for request in requests]

    return asyncio.run(start())


PIPELINES = ("answer", "agent", "ingest")
REACH_S = 240.0  # the faulty worker, alone on its model-call queues, serves a batch's steps one at a time


def f1_fault_point(stack: FaultStack, pipeline: str, step: str, point: str, jobs: int = 16) -> FaultRow:
    """F1: a worker that exits (as kill -9 would) when a step of the pipeline reaches a fault point, among others.

    The jobs run on a task-queue prefix of their own: one worker runs their workflows throughout, and the faulty
    worker (one activity at a time) is the only one polling their model-call queues until it exits, so the steps
    reach it in turn and its point fires within the batch. A plain worker of every queue of the prefix stands by,
    imported, and serves the moment the faulty one is gone, as a deployment's other workers would. A point not
    reached within REACH_S fails the row (check_faults) rather than passing as a fault survived.
    """
    assert pipeline in PIPELINES, pipeline
    name = f"F1 worker dies at {pipeline} {step}:{point}"
    prefix = f"f1{random.randrange(1 << 30):x}-"
    trigger = stack.home.parent / f"{prefix}serve"
    n = len(stack.extra) + 200
    own = [  # the prefix's other workers, stopped after the row
        stack.start_worker(n, prefix=prefix, queues=queues.WORKFLOWS),
        stack.start_worker(n + 1, prefix=prefix, standby=trigger),
    ]
    models = f"{queues.INFERENCE},{queues.IO}"
    faulty = stack.start_worker(n + 2, prefix=prefix, queues=models, fault_point=f"{step}:{point}")
    exits: list[float] = []  # when it exited, taken at once by a thread waiting on it (recovery counts from there)

    def watch() -> None:
        faulty.wait()
        exits.append(time.time())
        trigger.touch()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    ids = start_prefixed(stack, prefix, pipeline, f"F1{pipeline}-{random.randrange(1 << 30)}", jobs)
    try:
        faulty.wait(REACH_S)
    except subprocess.TimeoutExpired:
        print(f"{name}: the fault point was not reached within {REACH_S:.0f} s", flush=True)
        faulty.terminate()  # the watcher wakes the standby worker: the jobs still close
        faulty.wait(30)
    watcher.join(30)
    died_at = exits[0] if faulty.returncode == FAULT_EXIT_CODE else None
    stack.extra.remove(faulty)
    with httpx.Client(base_url=stack.gateway, timeout=30) as http:
        status = stack.wait(http, ids, 300)
    for proc in own:  # nothing else runs on the prefix: its workers would only poll
        proc.terminate()
        proc.wait(60)
        stack.extra.remove(proc)
    row = stack.row(name, ids, status, f"{RUN} F1", died_at)
    # The hook never fired: the row must not pass as a fault survived.
    return row if died_at is not None else row.model_copy(update={"check_faults": len(ids)})


# Each step of each pipeline with one of its fault points (`after_call` is left out: a worker dying between the
# provider's answer and storing it makes the next attempt call again, which only a provider honouring the
# Idempotency-Key bills once; see docs/resilience.md, "What it cannot prevent").
F1_POINTS = (
    ("answer", "retrieve", "before_call"),
    ("answer", "summarize", "after_store"),
    ("answer", "extract_entities", "before_call"),
    ("answer", "generate_answer", "mid_stream"),
    ("ingest", "embed", "after_store"),
    ("agent", "chat#1", "before_call"),
)


def f6_chroma_killed_ingesting(stack: FaultStack, jobs: int = 6) -> FaultRow:
    """F6: kill -9 Chroma while documents are embedded and stored; `up` restarts it, the writes are retried."""
    with httpx.Client(base_url=stack.gateway, timeout=30) as http:
        ids = start_ingestions(stack, f"F6i-{random.randrange(1 << 30)}", jobs)
        deadline = time.monotonic() + 120
        while not any(billed(c) for e in stack.entries(ids).values() for c in e.calls) and time.monotonic() < deadline:
            time.sleep(0.2)  # until the first groups are embedded: their writes to Chroma follow
        stack.process("chroma run").kill()
        killed_at = time.time()
        still_open = sum(1 for s in stack.statuses(http, ids).values() if s not in CLOSED)
        status = stack.wait(http, ids, 300)
    row = stack.row("F6 chroma kill -9 during ingestion", ids, status, f"{RUN} F6", killed_at)
    # A kill after every ingestion had finished would prove nothing: the row then fails.
    return row if still_open else row.model_copy(update={"check_faults": len(ids)})


def _tokens(call: SimLedgerCall) -> int:
    return call.billed_prompt_tokens + call.billed_completion_tokens


def limit_breaches(entries: dict[str, SimLedgerEntry], jobs: list[str], max_depth: int, budget: int | None) -> int:
    """Agents that made more model calls than max_depth, or a model call after their spend reached the budget.

    Prints what the batch did: the most chat calls of one agent, and against a budget the most spent and the
    largest single call (spend over the budget is at most the call that crossed it, and its tool's embedding).
    """
    breaches, most_chats, most_spent, largest = 0, 0, 0, 0
    for job in jobs:
        calls = [
            (call, "chat#" in key)
            for key, entry in entries.items()
            if key.split("/", 1)[0] == job or key.startswith(f"{job}-")
            for call in entry.calls
            if _tokens(call)
        ]
        chats = [call for call, is_chat in calls if is_chat]
        most_chats = max(most_chats, len(chats))
        most_spent = max(most_spent, sum(_tokens(c) for c, _ in calls))
        largest = max([largest, *(_tokens(c) for c in chats)])
        late = 0
        if budget is not None:  # a chat call may start only while the spend delivered before it is under budget
            for chat in chats:
                spent = sum(_tokens(c) for c, _ in calls if c.finished is not None and c.finished <= chat.arrival)
                late += spent >= budget
        breaches += len(chats) > max_depth or late > 0
    spend = f"; budget {budget}: most spent {most_spent}, largest chat call {largest}" if budget else ""
    print(f"F8 max_depth {max_depth}: at most {most_chats} chat calls per agent{spend}; {breaches} breach(es)")
    return breaches


def f8_runaway_agents(stack: FaultStack, jobs: int = 4) -> FaultRow:
    """F8: agents whose model always calls a tool, sub-agents that spawn sub-agents, and a loop against a budget.

    Each pauses at its limit and, with nobody to approve, is rejected when its 3 s approval timeout passes.
    """
    tag = f"F8-{random.randrange(1 << 30)}"
    runs = (  # (marker, max_depth, token_budget)
        ("toolloop", 3, None),
        ("toolloop=spawn_subagent", 3, None),
        ("toolloop", 100, 400),
    )
    started: list[tuple[list[str], int, int | None]] = []
    with httpx.Client(base_url=stack.gateway, timeout=30) as http:
        for n, (marker, depth, budget) in enumerate(runs):
            limits = {"max_depth": depth, "approval_timeout_s": 3} | ({"token_budget": budget} if budget else {})
            started.append((start_agents(stack, http, f"{tag}-{n}", jobs, marker, **limits), depth, budget))
        ids = [job for batch, _, _ in started for job in batch]
        status = stack.wait(http, ids, 300)
    entries = stack.entries(ids)
    row = stack.row("F8 runaway agents (depth 3, sub-agents, budget 400)", ids, status, f"{RUN} F8")
    breaches = sum(limit_breaches(entries, batch, depth, budget) for batch, depth, budget in started)
    return row.model_copy(update={"check_faults": breaches})
