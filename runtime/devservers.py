"""Temporal, Redis, Chroma and the simulator (and, given local models, llama-server) on free loopback ports.

`genai-flow up` runs the same services on fixed ports for people; this starts a private set nobody else sees,
points this process's settings at it, and stops every server that started, in reverse order.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from runtime import services
from runtime.processes import ManagedProcess, ServiceError, free_port
from runtime.settings import get_settings
from schemas.local_models import LocalModels

START_TIMEOUT_S = 90.0


@contextmanager
def environment(env: Mapping[str, str]) -> Iterator[None]:
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


PORT_ATTEMPTS = 3


def _start_on_free_port(build: Callable[[int], ManagedProcess]) -> tuple[int, ManagedProcess]:
    """Pick a port just before starting; if another process took it meanwhile, try again with a new one."""
    for attempt in range(1, PORT_ATTEMPTS + 1):
        port = free_port()
        proc = build(port)
        try:
            return port, proc.start(timeout=START_TIMEOUT_S)
        except ServiceError:
            # A free port can be taken between our probe and the server's bind (the Temporal dev server itself
            # opens several internal ports as it starts).
            if attempt == PORT_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


@contextmanager
def loopback_servers(
    state_dir: Path, sim_flags: Sequence[str] = (), local: LocalModels | None = None
) -> Iterator[tuple[dict[str, str], dict[str, ManagedProcess]]]:
    """Start the four servers; yields (the env that points settings at them, the processes by name).

    With `local` (what `make local-llm` prepared) the two llama-servers start too and settings use them
    (GENAI_FLOW_LLM=local); the simulator still runs beside them, so tests can compare the two.
    """
    builders: dict[str, Callable[[int], ManagedProcess]] = {
        "temporal": lambda port: services.temporal_server(state_dir, port, ui_port=None),
        "redis": lambda port: services.redis_server(state_dir, port),
        "chroma": lambda port: services.chroma_server(state_dir, port),
        "sim": lambda port: services.simulator(state_dir, port, list(sim_flags)),
    }
    if local is not None:
        logs = state_dir / "logs"
        builders["llama-chat"] = lambda port: services.llama_server(
            local.llama_server,
            local.chat.path,
            local.chat.name,
            port,
            logs / f"llama-chat-{port}.log",
            chat_template=local.chat.chat_template,
        )
        builders["llama-embed"] = lambda port: services.llama_server(
            local.llama_server,
            local.embed.path,
            local.embed.name,
            port,
            logs / f"llama-embed-{port}.log",
            embeddings=True,
        )
    ports: dict[str, int] = {}
    procs: dict[str, ManagedProcess] = {}
    try:
        for name, build in builders.items():
            ports[name], procs[name] = _start_on_free_port(build)
        env = {
            "TEMPORAL_ADDRESS": f"127.0.0.1:{ports['temporal']}",
            "REDIS_URL": f"redis://127.0.0.1:{ports['redis']}/0",
            "GENAI_FLOW_CHROMA_URL": f"http://127.0.0.1:{ports['chroma']}",
            "GENAI_FLOW_SIM_PORT": str(ports["sim"]),
            "GENAI_FLOW_LLM": "sim",
            "GENAI_FLOW_HOME": str(state_dir),
        }
        if local is not None:
            env |= {
                "GENAI_FLOW_LLM": "local",
                "GENAI_FLOW_LOCAL_LLM_PORT": str(ports["llama-chat"]),
                "GENAI_FLOW_LOCAL_EMBED_PORT": str(ports["llama-embed"]),
            }
        with environment(env):
            yield env, procs
    finally:
        for proc in reversed(procs.values()):
            proc.stop()
