"""TEST HOOK: `GENAI_FLOW_FAULT_POINT=<step>:<point>` makes the worker process exit at that point of a model call.

Crash tests set it on a worker they start, so "the worker died after the call but before storing the result"
happens exactly where intended instead of by a timed kill. Points: `before_call`, `after_call`, `after_store`, and
`mid_stream` (a streaming step: right after its first `token` event was published, so consumers hold partial text).
Leave it unset in production: the process exits with os._exit, skipping every clean-up.
"""

from __future__ import annotations

import os
import sys

from runtime.settings import Settings

FAULT_POINTS = ("before_call", "after_call", "after_store", "mid_stream")
FAULT_EXIT_CODE = 75  # distinctive, so a crash test can tell the hook from a real failure


def fault_point(settings: Settings, step: str, point: str) -> None:
    """Exit the process at once when GENAI_FLOW_FAULT_POINT equals `<step>:<point>`; otherwise do nothing."""
    if settings.fault_point and settings.fault_point == f"{step}:{point}":
        sys.stderr.write(f"GENAI_FLOW_FAULT_POINT={settings.fault_point}: exiting the worker (test hook)\n")
        sys.stderr.flush()
        os._exit(FAULT_EXIT_CODE)
