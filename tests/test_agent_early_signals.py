"""The `state` query before AgentRun's first workflow task (signals that arrive then, with signal-with-start or as a
continued run starts, are tested in-process: tests/inproc/test_agent_workflow.py)."""

from __future__ import annotations

from schemas.agent import AgentRunInput
from workflows.agent import AgentRun


def test_the_state_query_answers_from_the_requests_limits_before_the_run_starts() -> None:
    # Queries can arrive while `begin()` fetches the tools: they see the run's real limits, not a placeholder.
    run = AgentRun(AgentRunInput(task="t", max_depth=7, token_budget=500))
    state = run.state()
    assert (state.depth, state.max_depth, state.tokens_left, state.awaiting_approval) == (0, 7, 500, False)
