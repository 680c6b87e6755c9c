"""Temporal, Redis, Chroma and the simulator on free loopback ports, for tests and benchmarks.

`genai-flow up` runs the same services on fixed ports for people; this starts a private set nobody else sees,
points this process's settings at it, and stops every server that started, in reverse order.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from runtime import services
from runtime.processes import ManagedProcess, free_port
from runtime.settings import get_settings

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


@contextmanager
def loopback_servers(
    state_dir: Path, sim_flags: Sequence[str] = ()
) -> Iterator[tuple[dict[str, str], dict[str, ManagedProcess]]]:
    """Start the four servers; yields (the env that points settings at them, the processes by name)."""
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
    }
    started: list[ManagedProcess] = []
    try:
        for proc in procs.values():
            started.append(proc.start(timeout=START_TIMEOUT_S))
        with environment(env):
            yield env, procs
    finally:
        for proc in reversed(started):
            proc.stop()
