"""When `up` restarts a component that died: backoff per component, and the crash loop that makes it give up.

Every process `up` starts (Temporal, Redis, Chroma, the simulator or local model servers, worker, gateway) is
restarted on the same ports and state directory. The first restart waits FIRST_BACKOFF_S, each further one twice as
long up to MAX_BACKOFF_S; a component that then runs for STABLE_S starts over from the first backoff. More than
CRASH_LOOP_RESTARTS restarts of one component within CRASH_LOOP_WINDOW_S is a crash loop: `up` stops the stack and
exits 1, since restarting again would only hide a broken configuration.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 10.0
STABLE_S = 30.0
CRASH_LOOP_RESTARTS = 5
CRASH_LOOP_WINDOW_S = 60.0


@dataclass
class RestartState:
    """One component's restart history; `clock` is injectable for tests."""

    name: str
    restarts: list[float] = field(default_factory=list)  # monotonic times of recent restarts
    backoff_s: float = FIRST_BACKOFF_S
    restart_at: float | None = None  # when the pending restart is due (None: the component runs)
    started_at: float = field(default_factory=time.monotonic)

    def died(self, now: float) -> float | None:
        """Note a death seen at `now`; the restart's due time, or None when this is a crash loop."""
        if now - self.started_at >= STABLE_S:
            self.backoff_s = FIRST_BACKOFF_S  # it ran fine for a while: this is a new incident
        self.restarts = [t for t in self.restarts if now - t < CRASH_LOOP_WINDOW_S]
        if len(self.restarts) >= CRASH_LOOP_RESTARTS:
            return None
        self.restart_at = now + self.backoff_s
        self.backoff_s = min(self.backoff_s * 2, MAX_BACKOFF_S)
        return self.restart_at

    def restarted(self, now: float) -> None:
        """Note that the restart happened (whether or not the process came up)."""
        self.restarts.append(now)
        self.restart_at = None
        self.started_at = now


class Supervisor:
    """Restart bookkeeping for every component of a stack."""

    def __init__(self) -> None:
        self.states: dict[str, RestartState] = {}

    def of(self, name: str) -> RestartState:
        """The state of component `name` (created on first use)."""
        return self.states.setdefault(name, RestartState(name))
