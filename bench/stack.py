"""A private stack for benchmarks: Temporal dev server, Redis, Chroma and the simulator on free loopback ports.

`bench_stack()` starts the four servers as child processes (each in its own process group, stopped on exit),
points the process's settings at them, indexes a tiny corpus and yields a `BenchStack` with a Settings copy on
private task queues / Redis keys and a connected Temporal client. The cross-job inference cache is off in that
copy: benchmarks repeat questions, and a cache hit would skip the very model calls being measured.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from temporalio.client import Client

from runtime import services
from runtime.devservers import environment, loopback_servers
from runtime.processes import ManagedProcess, free_port
from runtime.settings import Settings, get_settings

REPO = Path(__file__).resolve().parent.parent
QUESTIONS = (
    "Who commissioned the Zephyr reactor, and where?",
    "What does the Harlow orchard grow?",
    "How often does Comet Veyra return?",
)


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


def worker_process(stack: BenchStack, name: str, concurrency: int) -> ManagedProcess:
    """`genai-flow worker` (every queue) on the stack's private queues with `concurrency` activity slots, cache off."""
    metrics_port = free_port()
    env = {
        **stack.child_env(),
        "GENAI_FLOW_MAX_CONCURRENT_ACTIVITIES": str(concurrency),
        "GENAI_FLOW_METRICS_PORT": str(metrics_port),
    }
    argv = [sys.executable, "-m", "starter.cli", "worker"]
    # The metrics endpoint opens just before the workers connect; the warm-up jobs then wait for them to poll.
    ready = partial(services.http_ok, f"http://127.0.0.1:{metrics_port}/metrics")
    return ManagedProcess(name, argv, ready, stack.state_dir / "logs" / f"{name}.log", env=env, cwd=REPO)


@asynccontextmanager
async def bench_stack(name: str, sim_flags: Sequence[str] = ()) -> AsyncIterator[BenchStack]:
    """Servers, settings, an indexed collection and a Temporal client for one benchmark run."""
    from runtime.logging import configure_logging
    from runtime.temporal import connect
    from starter.cli.corpus import chunk_count, index_samples
    from starter.client import GenAIFlowClient

    state_dir = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    unique = uuid.uuid4().hex[:8]
    try:
        with loopback_servers(state_dir, sim_flags) as (env, procs), environment({"GENAI_FLOW_LOG_LEVEL": "WARNING"}):
            base = get_settings()
            configure_logging(base)
            settings = base.model_copy(
                update={"task_queue_prefix": f"b{unique}-", "key_prefix": f"b{unique}", "cross_job_cache": False}
            )
            collection = f"bench-{unique}"
            client = await connect(settings)
            async with in_process_workers(client, settings):
                report = await index_samples(GenAIFlowClient(client, settings), state_dir / "corpus", collection)
            chunks = chunk_count(report)
            print(f"stack up in {state_dir} (collection {collection}: {chunks} chunks)", file=sys.stderr, flush=True)
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
