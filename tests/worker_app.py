"""`genai-flow` with a test-only workflow and activity in the registry (run as `python -m tests.worker_app worker`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from workers import registry


@activity.defn(name="drain_probe_step")
async def drain_probe_step(seconds: float) -> str:
    """Sleep, then report: lets a test SIGTERM the worker while this runs and see it finish (graceful drain)."""
    await asyncio.sleep(seconds)
    return f"slept {seconds}"


@workflow.defn(name="DrainProbe")
class DrainProbe:
    """One activity on the same queue; completes only if the activity does."""

    @workflow.run
    async def run(self, seconds: float) -> str:
        """Run the slow step."""
        return await workflow.execute_activity(drain_probe_step, seconds, start_to_close_timeout=timedelta(seconds=60))


def _step_factory(deps: registry.WorkerDeps) -> Sequence[Callable[..., Any]]:
    return [drain_probe_step]


def factories() -> dict[str, list[registry.ActivityFactory]]:
    """The test queue layout: workflow and its activity on genai-workflows, nothing elsewhere."""
    return {registry.WORKFLOWS_QUEUE: [_step_factory], registry.INFERENCE_QUEUE: [], registry.IO_QUEUE: []}


if __name__ == "__main__":
    # Registering through the registry's own functions exercises build_workers exactly as production does.
    # Import under the real module name: the workflow sandbox re-imports a workflow's module by that name.
    from starter.cli.app import main
    from tests import worker_app

    registry.workflows = lambda: [worker_app.DrainProbe]
    registry.activity_factories = worker_app.factories

    main()
