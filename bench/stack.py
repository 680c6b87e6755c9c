"""A private stack for benchmarks: Temporal dev server, Redis, Chroma and the simulator on free loopback ports.

`bench_stack()` starts the four servers as child processes (each in its own process group, stopped on exit),
points the process's settings at them, indexes a tiny corpus and yields a `BenchStack` with a Settings copy on
private task queues / Redis keys and a connected Temporal client. The cross-job inference cache is off in that
copy: benchmarks repeat questions, and a cache hit would skip the very model calls being measured.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.client import Client

from runtime import services
from runtime.processes import ManagedProcess, free_port
from runtime.settings import Settings, get_settings

# Three short documents: enough for top-k retrieval, citations and entities, small enough to index in a second.
CORPUS = {
    "zephyr.md": (
        "# The Zephyr reactor\n\nThe Zephyr reactor was commissioned in 1987 by Dr. Amelia Hartwell in Lisbon. "
        "Its coolant is molten fluoride salt.\n\nThe reactor produced 40 megawatts at full power."
    ),
    "orchard.md": (
        "# Harlow orchard\n\nThe Harlow orchard grows Bramley apples and Conference pears. It was planted by "
        "Thomas Greaves in 1911 near Canterbury.\n\nHarvest starts in late September."
    ),
    "comet.md": (
        "# Comet Veyra\n\nComet Veyra returns every 71 years. Astronomer Lucia Moreno first catalogued it from "
        "the Atacama desert.\n\nIts tail is mostly ionised carbon monoxide."
    ),
}
QUESTIONS = (
    "Who commissioned the Zephyr reactor, and where?",
    "What does the Harlow orchard grow?",
    "How often does Comet Veyra return?",
)
START_TIMEOUT_S = 90.0


@dataclass
class BenchStack:
    """What a benchmark gets from `bench_stack()`."""

    settings: Settings
    client: Client
    collection: str
    state_dir: Path
    env: dict[str, str]
    sim_url: str
    processes: dict[str, ManagedProcess] = field(default_factory=dict)

    def child_env(self) -> dict[str, str]:
        """Environment for a worker subprocess: the servers plus this stack's private queues, keys and cache flag."""
        return {
            **self.env,
            "GENAI_FLOW_TASK_QUEUE_PREFIX": self.settings.task_queue_prefix,
            "GENAI_FLOW_KEY_PREFIX": self.settings.key_prefix,
            "GENAI_FLOW_CROSS_JOB_CACHE": "false",
            "GENAI_FLOW_LOG_LEVEL": "WARNING",
        }


@contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    """Set env vars (and re-read settings) for the duration; restore both afterwards."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    get_settings.cache_clear()
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        get_settings.cache_clear()


@contextmanager
def _servers(state_dir: Path, sim_flags: Sequence[str]) -> Iterator[tuple[dict[str, str], dict[str, ManagedProcess]]]:
    """Start the four servers on free ports; stop every one that started, in reverse order."""
    ports = {name: free_port() for name in ("temporal", "redis", "chroma", "sim")}
    procs = {
        "temporal": services.temporal_server(state_dir, ports["temporal"], ui_port=None),
        "redis": services.redis_server(state_dir, ports["redis"]),
        "chroma": services.chroma_server(state_dir, ports["chroma"]),
        "sim": services.simulator(state_dir, ports["sim"], list(sim_flags)),
    }
    env = {
        "TEMPORAL_ADDRESS": f"127.0.0.1:{ports['temporal']}",
        "REDIS_URL": f"redis://127.0.0.1:{ports['redis']}/0",
        "GENAI_FLOW_CHROMA_URL": f"http://127.0.0.1:{ports['chroma']}",
        "GENAI_FLOW_SIM_PORT": str(ports["sim"]),
        "GENAI_FLOW_LLM": "sim",
        "GENAI_FLOW_HOME": str(state_dir),
        "GENAI_FLOW_LOG_LEVEL": "WARNING",
    }
    started: list[ManagedProcess] = []
    try:
        for proc in procs.values():
            started.append(proc.start(timeout=START_TIMEOUT_S))
        yield env, procs
    finally:
        for proc in reversed(started):
            proc.stop()


async def index_corpus_into(state_dir: Path, collection: str, settings: Settings) -> int:
    """Write CORPUS to files and index them into collection; returns the number of chunks."""
    from starter.corpus import index_corpus

    corpus = state_dir / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for name, text in CORPUS.items():
        (corpus / name).write_text(text)
    report = await index_corpus([corpus], collection, settings, root=corpus)
    return report.chunks


@asynccontextmanager
async def bench_stack(name: str, sim_flags: Sequence[str] = ()) -> AsyncIterator[BenchStack]:
    """Servers, settings, an indexed collection and a Temporal client for one benchmark run."""
    from runtime.logging import configure_logging
    from runtime.temporal import connect

    state_dir = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    unique = uuid.uuid4().hex[:8]
    try:
        with _servers(state_dir, sim_flags) as (env, procs), _environment(env):
            base = get_settings()
            configure_logging(base)
            settings = base.model_copy(
                update={"task_queue_prefix": f"b{unique}-", "key_prefix": f"b{unique}", "cross_job_cache": False}
            )
            collection = f"bench-{unique}"
            chunks = await index_corpus_into(state_dir, collection, settings)
            print(f"stack up in {state_dir} (collection {collection}: {chunks} chunks)", file=sys.stderr, flush=True)
            client = await connect(settings)
            yield BenchStack(
                settings, client, collection, state_dir, env, f"http://127.0.0.1:{env['GENAI_FLOW_SIM_PORT']}", procs
            )
    except BaseException:
        print(f"bench stack failed; logs kept in {state_dir / 'logs'}", file=sys.stderr)
        raise
    shutil.rmtree(state_dir, ignore_errors=True)


@asynccontextmanager
async def in_process_workers(client: Client, settings: Settings) -> AsyncIterator[None]:
    """Every worker of the registry, in this process, on the settings' queues (the pipeline as deployed)."""
    from workers.registry import ALL_QUEUES, build_workers, open_deps

    async with open_deps(settings) as deps, AsyncExitStack() as stack:
        for worker in build_workers(client, settings, ALL_QUEUES, deps):
            await stack.enter_async_context(worker)
        yield
