"""A redis-server of a test's own on a free port, which the test may hang (SIGSTOP), resume or stop."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

from runtime import services
from runtime.processes import ManagedProcess, free_port


@contextlib.contextmanager
def private_redis_server(state_dir: Path) -> Iterator[ManagedProcess]:
    """Start it, yield it, and stop it (resumed first, should the test have left it hung)."""
    proc = services.redis_server(state_dir, free_port()).start(timeout=30)
    try:
        yield proc
    finally:
        if proc.alive() and proc.pid:
            os.kill(proc.pid, signal.SIGCONT)
        proc.stop(grace=2)


def redis_url(proc: ManagedProcess) -> str:
    """The URL of a redis_server ManagedProcess (its port is in its argv)."""
    argv = list(proc.argv)
    return f"redis://127.0.0.1:{argv[argv.index('--port') + 1]}/0"


@contextlib.contextmanager
def hung(proc: ManagedProcess) -> Iterator[None]:
    """Redis stops answering (SIGSTOP) inside the block and resumes after it."""
    assert proc.pid is not None
    os.kill(proc.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(proc.pid, signal.SIGCONT)
