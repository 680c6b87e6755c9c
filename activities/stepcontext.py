"""What one attempt of an inference step carries: the state kept across attempts and the context a call gets."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from activities.events import TokenBatcher
from activities.repair import Repair, repair_of, varied_sampling
from runtime.settings import Settings
from schemas.inference import InferenceCall


class AttemptState(BaseModel):
    """Carried across attempts in heartbeat details (Temporal keeps the last ones through a failed attempt)."""

    failures: int = 0  # counting failures (Transient, InvalidOutput) of this step so far
    last_error: str = ""
    # The failure class of the latest attempt that failed with one, and its number: the next attempt's
    # `step.retrying` names it (an attempt that crashed or timed out leaves no class, and none is claimed for it).
    last_failure: str = ""
    last_failure_attempt: int = 0
    billed_tokens: int = 0  # tokens the provider billed for failed attempts (invalid output): added to the result
    repair: Repair | None = None  # the latest rejected reply and its error, sent back to the model

    def failed(self, attempt: int, failure: str) -> None:
        """Remember that `attempt` failed with this failure class."""
        self.last_failure, self.last_failure_attempt = failure, attempt

    def failure_before(self, attempt: int) -> dict[str, str]:
        """`{"failure": class}` when the attempt just before `attempt` failed with a class; else empty."""
        return {"failure": self.last_failure} if self.last_failure and self.last_failure_attempt == attempt - 1 else {}

    def reject(self, output: str, error: str) -> None:
        """Remember a rejected reply and why, for the next attempt to send back (repair)."""
        self.repair = repair_of(output, error)


@dataclass
class StepContext:
    """What a model call needs from its attempt: key, time budget, output bound, repair, heartbeat, token events."""

    idempotency_key: str
    timeout_s: float
    tokens: TokenBatcher | None
    beat: Callable[[], None]
    max_tokens: int | None = None  # the bound to send (None: the call produces no tokens, e.g. embeddings)
    repair: Repair | None = None  # set on an attempt after invalid output
    failures: int = 0  # counted failures of this step before this attempt
    started: float = field(default_factory=time.monotonic)

    def sampling(self, temperature: float) -> dict[str, Any]:
        """`temperature` (and `seed`) to send: varied per attempt once a reply was rejected, so it can differ."""
        if self.repair is None:
            return {"temperature": temperature}
        nudged, seed = varied_sampling(temperature, self.failures)
        return {"temperature": nudged} if seed is None else {"temperature": nudged, "seed": seed}


def state_from(details: Sequence[Any]) -> AttemptState:
    """The previous attempt's state; a fresh one when there is none or an enclosing activity heartbeats other data."""
    if not details:
        return AttemptState()
    try:
        return AttemptState.model_validate(details[0])
    except ValidationError:
        return AttemptState()


def max_tokens_of(call: InferenceCall, settings: Settings) -> int | None:
    """The output bound of a model call: the request's own `max_tokens`, else the step's (GENAI_FLOW_MAX_TOKENS).

    None for calls without messages (embeddings produce no tokens). Duck-typed, so any chat-like request model
    (ChatRequest, StructuredRequest, an agent's own) is bounded without being listed here.
    """
    if not hasattr(call, "messages"):
        return None
    own = getattr(call, "max_tokens", None)
    # An explicit value is sent as given, even one the provider will refuse (its 400 says why).
    return own if isinstance(own, int) else settings.max_tokens_for(call.step)
