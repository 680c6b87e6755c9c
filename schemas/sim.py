"""The simulator's ledger: what `GET /sim/ledger` returns (CONTRACTS.md, "Simulator")."""

from __future__ import annotations

import re
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


class SimFault(BaseModel):
    """`POST /sim/faults`: every later request whose text contains `match` acts as if it carried `[[sim:<marker>]]`.

    The test-only way to inject faults into text the simulator otherwise treats as data (document chunks).
    """

    match: str = Field(min_length=1, description="Text to look for in a request (chat messages or embeddings input).")
    marker: str = Field(min_length=1, description="A marker's body, e.g. `500x5`, `hangx1`, `poison`, `latency=2s`.")


# -- documents are data --------------------------------------------------------------------------------------------

MARKER_OPEN = "[[sim:"
_LIVE_OPEN = re.compile(r"(?<!\\)\[\[sim:")


def inert_markers(text: str) -> str:
    """Text from a document with every simulator marker it quotes escaped (`\\[[sim:…]]`): data, never a fault.

    The simulator obeys `[[sim:…]]` only where a request's author wrote it (a question, an agent's task, a request
    sent straight to it); text our pipelines take from documents goes through this before it reaches a model.
    A backslash before `[` is Markdown's own escape, so real models read the same words.
    """
    return _LIVE_OPEN.sub(r"\\[[sim:", text) if MARKER_OPEN in text else text
