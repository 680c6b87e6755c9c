"""Child processes with health-checked readiness and group-wide shutdown (used by `up` and test fixtures)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from runtime.child_secrets import inherited


class ServiceError(RuntimeError):
    """A service could not start: the message says why and what to do."""


_handed_out: set[int] = set()
_handed_out_lock = threading.Lock()


def free_port() -> int:
    """An unused TCP port on loopback, never one this process was handed before.

    The kernel may give the same ephemeral port to two binds in a row once the first socket is closed, so a caller
    picking several ports (a stack's temporal, gateway, metrics...) could otherwise get one port twice.
    """
    with _handed_out_lock:
        while True:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind(("127.0.0.1", 0))
                port = int(sock.getsockname()[1])
            if port not in _handed_out:
                _handed_out.add(port)
                return port


def port_open(host: str, port: int, timeout: float = 0.3) -> bool:
    """True when something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def find_binary(name: str, install_hint: str) -> str:
    """Absolute path of an executable next to this interpreter or on PATH, else a ServiceError with the fix."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found:
        return found
    raise ServiceError(f"`{name}` not found. Install it with: {install_hint}")


@dataclass
class ManagedProcess:
    """A child process in its own process group, ready when its health check passes."""

    name: str
    argv: Sequence[str]
    ready: Callable[[], bool]
    log_path: Path
    env: dict[str, str] | None = None
    cwd: Path | None = None
    # The secret variables of this process's environment the child keeps (runtime/child_secrets.py); None: all.
    secrets: frozenset[str] | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def pid(self) -> int | None:
        """The child's process id once started."""
        return self.proc.pid if self.proc else None

    def start(self, timeout: float = 60.0) -> ManagedProcess:
        """Start the process and wait until its health check passes (never a fixed sleep)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        env = {**inherited(self.secrets), **(self.env or {})}
        # A new session gives the child its own process group, so stop() reaches its grandchildren too.
        self.proc = subprocess.Popen(
            list(self.argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=self.cwd,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServiceError(
                    f"{self.name} exited with code {self.proc.returncode} during start-up; "
                    f"last lines of {self.log_path}:\n{self.tail()}"
                )
            if self.ready():
                return self
            time.sleep(0.1)
        self.stop()
        raise ServiceError(f"{self.name} not ready after {timeout:.0f}s; see {self.log_path}:\n{self.tail()}")

    def alive(self) -> bool:
        """True while the child runs."""
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the process group, then SIGKILL whatever is left after the grace period."""
        if self.proc is None:
            return
        try:
            pgid = os.getpgid(self.proc.pid)
        except ProcessLookupError:
            pgid = None
        if pgid is not None and self.proc.poll() is None:
            os.killpg(pgid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=grace)
        if pgid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)  # stragglers of the group, if any
        self.proc.wait()

    def tail(self, lines: int = 20) -> str:
        """The last lines of the process's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
