"""Response timing: how long until the first token and between tokens.

The delay before the first token is `--latency` (sampled) plus `--ttft`; a `[[sim:latency=…]]` marker
replaces both for its request. After the first token, tokens follow at `--tps` per second (at once
when unset). A non-streamed response is sent when its last token would have been.
"""

from __future__ import annotations

import random

from sim.config import LatencySpec, SimConfig


class LatencyModel:
    """Delays for one simulator, drawn from each request's own seeded RNG."""

    def __init__(self, config: SimConfig) -> None:
        self._latency = config.latency
        self._ttft = config.ttft
        self._tps = config.tps

    def first_token(self, rng: random.Random, override_s: float | None = None) -> float:
        """Seconds before the first token."""
        if override_s is not None:
            return override_s
        return self._ttft + (_sample(self._latency, rng) if self._latency else 0.0)

    def per_token(self) -> float:
        """Seconds between tokens after the first (0 when --tps is unset)."""
        return 1.0 / self._tps if self._tps else 0.0

    def total(self, rng: random.Random, tokens: int, override_s: float | None = None) -> float:
        """Seconds a non-streamed response of `tokens` completion tokens takes."""
        return self.first_token(rng, override_s) + max(tokens - 1, 0) * self.per_token()


def _sample(spec: LatencySpec, rng: random.Random) -> float:
    if spec.kind == "uniform":
        return rng.uniform(spec.a, spec.b)
    if spec.kind == "normal":
        return max(0.0, rng.gauss(spec.a, spec.b))
    if spec.kind == "exp":
        return rng.expovariate(1.0 / spec.a) if spec.a > 0 else 0.0
    return spec.a
