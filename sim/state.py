"""SimState: one simulator's config, ledger, marker counters, concurrency slots and embedder."""

from __future__ import annotations

import asyncio
import hashlib
import random
from dataclasses import dataclass
from typing import Any

from schemas.sim import SimFault, SimLedgerCall
from sim.config import SimConfig
from sim.embeddings import Embedder, make_embedder
from sim.faults import choose
from sim.latency import LatencyModel
from sim.ledger import Ledger, ledger_key
from sim.markers import MarkerCounters, Markers, armed, parse
from sim.provider import ProviderLimits

MODELS = ("sim-chat", "sim-embed")


@dataclass
class CallContext:
    """One call as the simulator sees it after reading its markers and choosing its fault."""

    key: str
    model: str
    nth: int
    call: SimLedgerCall
    markers: Markers
    fault: str | None
    rng: random.Random
    seed: int

    def ident(self, prefix: str) -> str:
        """A deterministic response id (seed, key and call number)."""
        return prefix + hashlib.sha256(f"{self.seed}:{self.key}:{self.nth}".encode()).hexdigest()[:24]


class SimState:
    """Everything the routes share."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.ledger = Ledger(config.ledger_max_keys)
        self.counters = MarkerCounters()
        self.latency = LatencyModel(config)
        self.slots = asyncio.Semaphore(config.concurrency)
        self.embedder: Embedder = make_embedder(config.embedder, config.dim)
        self.in_flight = 0
        self.faults: list[SimFault] = []  # armed through POST /sim/faults (tests): match text -> marker
        self.provider = ProviderLimits(config.rpm, config.tpm, config.limit_window)

    def begin(
        self,
        idempotency_key: str | None,
        model: str,
        texts: list[str],
        endpoint: str,
        stream: bool,
        body: dict[str, Any] | None = None,
    ) -> tuple[list[str], CallContext]:
        """Strip markers from texts, record the call's arrival (and `body` with --record-requests), choose its fault."""
        cleaned: list[str] = []
        markers = Markers()
        for text in texts:
            clean, found = parse(text)
            cleaned.append(clean)
            markers = markers.merge(found)
        for rule in self.faults:
            if any(rule.match in text for text in texts):
                markers = markers.merge(armed(rule.match, rule.marker))
        key = ledger_key(idempotency_key, model, "\n".join(texts))
        call = self.ledger.begin(key, model, endpoint, stream, body if self.config.record_requests else None)
        nth = self.ledger.calls_for(key)
        # Each call draws from its own RNG (seed, key, call number): outcomes do not depend on how
        # concurrent requests of other keys interleave.
        rng = random.Random(f"{self.config.seed}:{key}:{nth}")  # noqa: S311 - simulation, not security
        fault = choose(markers, self.counters, self.config.faults, rng)
        return cleaned, CallContext(key, model, nth, call, markers, fault, rng, self.config.seed)

    def reset(self) -> None:
        """Clear the ledger, the marker counters and the armed faults."""
        self.ledger.reset()
        self.counters.reset()
        self.faults.clear()
        self.provider.reset()
