"""The embedded stack (`genai-flow up`, `demo`): start components in dependency order, supervise, stop in reverse.

Supervision restarts any started component that dies, with backoff, until a crash loop (launcher/supervisor.py).
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from rich.console import Console
from rich.table import Table
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

from launcher.plan import EXTERNAL, STARTED, Component, check_ports, console_url, gateway_url, plan, web_ui_url
from launcher.supervisor import Supervisor
from runtime import services
from runtime.logging import get_logger
from runtime.processes import ServiceError
from runtime.settings import LLMBackend, Settings
from runtime.temporal import connect

log = get_logger(__name__)

READY_LINE = "genai-flow stack ready"
START_TIMEOUT_S = 120.0


class StackInterrupted(Exception):  # a control-flow signal, hence no "Error" suffix
    """SIGINT/SIGTERM arrived while the stack was starting."""


async def _temporal_serves(settings: Settings) -> bool:
    # Ready means the namespace answers and our search attributes are registered, not just an open port.
    try:
        client = await asyncio.wait_for(connect(settings), timeout=3)
        request = ListSearchAttributesRequest(namespace=settings.temporal_namespace)
        response = await asyncio.wait_for(client.operator_service.list_search_attributes(request), timeout=3)
    except Exception:
        return False
    return set(services.SEARCH_ATTRIBUTES) <= set(response.custom_attributes)


class Stack:
    """The processes of one embedded stack; `start()`, then `supervise()` or your own work, then `stop()`."""

    def __init__(self, settings: Settings, console: Console | None = None) -> None:
        """Plan the components (missing binaries fail here) without starting anything."""
        self.settings = settings
        self.console = console or Console(stderr=True)
        self.interrupted = threading.Event()
        self.components: list[Component] = plan(settings)
        self._started: list[Component] = []
        self.supervisor = Supervisor()

    # -- lifecycle -------------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Check ports, then start each component and wait for its health check; StackInterrupted on a signal."""
        check_ports(self.components)
        for component in self.components:
            if component.status != STARTED or component.process is None:
                continue
            self._guard(component)
            self._started.append(component)  # before start(): an interrupted start is still stopped
            self.console.print(f"starting {component.name} …")
            component.process.start(timeout=START_TIMEOUT_S)
            if component.name == "temporal":
                self._wait_for(lambda: asyncio.run(_temporal_serves(self.settings)), "temporal search attributes")
        self._check_external()

    def supervise(self, poll_s: float = 0.5) -> int:
        """Block until SIGINT/SIGTERM (0) or a crash loop (1); any component that dies is restarted with backoff."""
        while not self.interrupted.wait(poll_s):
            for component in self._started:
                if component.process is not None and not component.process.alive():
                    try:
                        if not self._tend(component):
                            return 1
                    except StackInterrupted:
                        return 0
        return 0

    def _tend(self, component: Component) -> bool:
        """Note a dead component and restart it once its backoff is over; False on a crash loop."""
        proc = component.process
        assert proc is not None
        state = self.supervisor.of(component.name)
        now = time.monotonic()
        if state.restart_at is None:
            code = proc.proc.returncode if proc.proc else None
            self.console.print(f"[red]{component.name} exited with code {code}[/red]; last lines:\n{proc.tail()}")
            due = state.died(now)
            if due is None:
                self.console.print(f"[red]{component.name} keeps crashing: stopping the stack[/red]")
                return False
            self.console.print(f"{component.name} will be restarted in {due - now:.1f} s")
        if now < (state.restart_at or now):
            return True  # its backoff is not over; keep watching the others
        self.console.print(f"restarting {component.name} …")
        state.restarted(now)
        proc.stop(grace=1.0)  # reap it and clear anything left in its process group
        try:
            proc.start(timeout=START_TIMEOUT_S)
        except ServiceError as err:  # it died again while starting: the next poll counts it as a crash
            self.console.print(f"[red]{component.name} did not come back: {err}[/red]")
        else:
            self.console.print(f"{component.name} restarted")
        return True

    def stop(self) -> None:
        """Stop every started component in reverse order (SIGTERM to its process group, SIGKILL after a grace)."""
        for component in reversed(self._started):
            if component.process is None:
                continue
            grace = self.settings.worker_shutdown_grace_s + 5 if component.name == "worker" else 10.0
            self.console.print(f"stopping {component.name} …")
            component.process.stop(grace=grace)
        self._started.clear()

    def pids(self) -> dict[str, int]:
        """Process id of each running component."""
        return {c.name: c.process.pid for c in self._started if c.process is not None and c.process.pid is not None}

    # -- output ----------------------------------------------------------------------------------------------------

    def table(self) -> Table:
        """The endpoints, their status and the setting that moves each."""
        table = Table(title="genai-flow stack", title_justify="left")
        for column in ("service", "endpoint", "status", "setting", "notes"):
            table.add_column(column, overflow="fold")
        for c in self.components:
            table.add_row(c.name, c.endpoint, c.status, c.setting, c.note)
        return table

    def print_summary(self) -> None:
        """Print the endpoint table, the model backend, the logs folder and the ready line."""
        self.console.print(self.table())
        s = self.settings
        backend = {
            LLMBackend.SIM: "simulator (OpenAI-compatible)",
            LLMBackend.LOCAL: "llama.cpp llama-server (OpenAI-compatible)",
        }.get(s.llm, "OpenAI-compatible endpoint")
        self.console.print(f"model backend: GENAI_FLOW_LLM={s.llm.value} — {backend} at {s.llm_base_url}")
        if s.embed_url != s.llm_base_url:
            self.console.print(f"embeddings: {s.embed_model} at {s.embed_url}")
        ui = web_ui_url(s)
        if ui:
            self.console.print(f"Temporal Web UI: {ui}")
            if s.encryption_keys:  # the one setting the dev server cannot make for the Web UI (docs/console.md)
                self.console.print(
                    f"  payloads are encrypted: sign in to the web console, then in the Web UI's codec settings use "
                    f"your browser setting {gateway_url(s)}/codec with 'Include cross-origin credentials' on"
                )
        self.console.print(f"web console: {console_url(s)} (sign in with an API key)")
        self.console.print(f"logs: {s.home / 'logs'}")
        self.console.print(f"[bold green]{READY_LINE}[/bold green] (Ctrl-C stops everything)")

    # -- internals -------------------------------------------------------------------------------------------------

    def _guard(self, component: Component) -> None:
        # Wrap the health check so a signal interrupts a start-up wait at the next poll (no async exceptions).
        proc = component.process
        assert proc is not None
        check: Callable[[], bool] = proc.ready

        def ready() -> bool:
            if self.interrupted.is_set():
                raise StackInterrupted
            return check()

        proc.ready = ready

    def _wait_for(self, check: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.interrupted.is_set():
                raise StackInterrupted
            if check():
                return
            time.sleep(0.2)
        raise ServiceError(f"{what} not ready after {START_TIMEOUT_S:.0f}s")

    def _check_external(self) -> None:
        # Services `up` does not run must at least answer, or the first job would fail much later and less clearly.
        external = {c.name for c in self.components if c.status == EXTERNAL}
        if "temporal" in external and not asyncio.run(_temporal_serves(self.settings)):
            raise ServiceError(
                f"Temporal at TEMPORAL_ADDRESS={self.settings.temporal_address} does not answer or lacks the search "
                f"attributes {', '.join(services.SEARCH_ATTRIBUTES)} (register them with "
                "`temporal operator search-attribute create --name NAME --type TYPE`)"
            )
        if "chroma" in external and not services.http_ok(f"{self.settings.chroma_url.rstrip('/')}/api/v2/heartbeat"):
            raise ServiceError(f"Chroma at GENAI_FLOW_CHROMA_URL={self.settings.chroma_url} does not answer")

    def diagnose(self) -> None:
        """After a failed start, print doctor's failing findings (the started components still run, so they count)."""
        from launcher.doctor import CHECKED_COMPONENTS, WORKERS, check_all, report_lines
        from schemas.doctor import DoctorReport

        # Components `up` had yet to start would only show as unreachable; the worker is judged by its own error.
        not_yet = {c.name for c in self.components if c.status == STARTED and c not in self._started}
        skip = {WORKERS, *(group for name, group in CHECKED_COMPONENTS.items() if name in not_yet)}
        lines = report_lines(DoctorReport.of(check_all(self.settings, skip)), failures_only=True)
        if lines:
            self.console.print("[bold]genai-flow doctor[/bold] found:", highlight=False)
            for line in lines:
                self.console.print(line, markup=False, highlight=False, soft_wrap=True)


@contextmanager
def signals_set(event: threading.Event) -> Iterator[None]:
    """While inside, SIGINT and SIGTERM only set the event (so start-up and shutdown are never cut half-way)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        event.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextmanager
def running_stack(settings: Settings, console: Console | None = None) -> Iterator[Stack]:
    """Start the stack, yield it, and stop everything on exit, whatever happens (used by `up` and `demo`)."""
    stack = Stack(settings, console)
    with signals_set(stack.interrupted):
        try:
            try:
                stack.start()
            except ServiceError:
                stack.diagnose()
                raise
            stack.print_summary()
            yield stack
        finally:
            stack.stop()


def run_up(settings: Settings, console: Console | None = None) -> int:
    """`genai-flow up`: start the stack in the foreground until Ctrl-C / SIGTERM; returns the exit code."""
    try:
        with running_stack(settings, console) as stack:
            return stack.supervise()
    except StackInterrupted:
        return 0
