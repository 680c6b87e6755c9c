"""The simulator's ledger: what `GET /sim/ledger` returns (CONTRACTS.md, "Simulator")."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

CallStatus = int | Literal["pending", "hang", "truncated", "disconnected"]


class SimLedgerCall(BaseModel):
    """One request the simulator received, and what became of it."""

    arrival: float = Field(description="Arrival time, epoch seconds.")
    endpoint: Literal["chat", "embeddings"] = "chat"
    stream: bool = False
    status: CallStatus = Field(
        "pending",
        description="HTTP status sent, or hang / truncated / disconnected; pending while the call is in flight.",
    )
    fault: str | None = Field(None, description="The fault injected (429, 503, 500, hang, badjson, truncate, poison).")
    billed_prompt_tokens: int = Field(0, ge=0)
    billed_completion_tokens: int = Field(0, ge=0)
    finished: float | None = Field(None, description="When the call ended, epoch seconds.")
    request: dict[str, Any] | None = Field(
        None, description="The request body as received (kept only when the simulator runs with --record-requests)."
    )


class SimLedgerEntry(BaseModel):
    """Every call made under one key: the Idempotency-Key header, else `<model>:<text fingerprint>`."""

    key: str
    model: str
    calls: list[SimLedgerCall] = Field(default_factory=list)

    @property
    def billed_tokens(self) -> int:
        """Prompt plus completion tokens billed across this key's calls."""
        return sum(c.billed_prompt_tokens + c.billed_completion_tokens for c in self.calls)


class SimLedgerTotals(BaseModel):
    """Sums over every call since start or the last reset."""

    calls: int = 0
    billed_prompt_tokens: int = 0
    billed_completion_tokens: int = 0
    billed_tokens: int = 0


class SimLedger(BaseModel):
    """`GET /sim/ledger`: entries by key (optionally filtered) and totals over all calls."""

    entries: dict[str, SimLedgerEntry] = Field(default_factory=dict)
    totals: SimLedgerTotals = Field(default_factory=SimLedgerTotals)
