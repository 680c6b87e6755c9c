"""A worker on standby: `python -m tests.faults.standby TRIGGER worker [--queues ...]` imports what a worker needs,
waits until the file TRIGGER exists, then runs `genai-flow worker ...` as `python -m starter.cli` would.

F1's fault-point rows keep the faulty worker alone on its model-call queues until it exits (tests/faults/pipelines.py).
Its replacement must then serve at once, as a deployment's other workers already would, not after a cold start: the
imports alone take 2-6 s on a loaded 2-core machine, which would count as recovery time that no deployment has.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import temporalio.worker  # noqa: F401  (imported ahead: the point of standing by)

from starter.cli.app import main
from workers.main import serve  # noqa: F401  (`genai-flow worker` imports it when run)
from workers.registry import declared_queues

POLL_S = 0.02


def stand_by(trigger: Path) -> None:
    """Import every workflow and activity module, then wait for the trigger file."""
    declared_queues()  # imports the workflow and activity modules it lists
    while not trigger.exists():
        time.sleep(POLL_S)


if __name__ == "__main__":
    stand_by(Path(sys.argv[1]))
    sys.argv = ["genai-flow", *sys.argv[2:]]
    main()
