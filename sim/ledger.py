"""The billing ledger: every call per key, billed only when its response was fully delivered."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from typing import Any

from schemas.sim import CallStatus, SimLedger, SimLedgerCall, SimLedgerEntry, SimLedgerTotals


def ledger_key(idempotency_key: str | None, model: str, text: str) -> str:
    """The Idempotency-Key header when sent, else `<model>:<sha256 of the request text, 16 hex>`."""
    if idempotency_key:
        return idempotency_key
    return f"{model}:{hashlib.sha256(text.encode()).hexdigest()[:16]}"


MAX_CALLS_PER_KEY = 1_000


class Ledger:
    """Calls by key; totals always cover every call since reset.

    Memory stays bounded for a long-running simulator: past `max_keys` the least recently used keys are
    dropped, and each key keeps its newest MAX_CALLS_PER_KEY calls (a benchmark repeating one prompt).
    """

    def __init__(self, max_keys: int = 100_000) -> None:
        self._max_keys = max_keys
        self._entries: OrderedDict[str, SimLedgerEntry] = OrderedDict()
        self._counts: dict[str, int] = {}
        self._totals = SimLedgerTotals()

    def begin(
        self, key: str, model: str, endpoint: str, stream: bool, body: dict[str, Any] | None = None
    ) -> SimLedgerCall:
        """Record a call's arrival (with its request body when given); the record is finished later with `finish`."""
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = SimLedgerEntry(key=key, model=model)
            while len(self._entries) > self._max_keys:
                dropped, _ = self._entries.popitem(last=False)
                self._counts.pop(dropped, None)
        else:
            self._entries.move_to_end(key)
        call = SimLedgerCall(
            arrival=time.time(),
            endpoint="embeddings" if endpoint == "embeddings" else "chat",
            stream=stream,
            request=body,
        )
        entry.calls.append(call)
        if len(entry.calls) > MAX_CALLS_PER_KEY:
            del entry.calls[: len(entry.calls) - MAX_CALLS_PER_KEY]
        self._counts[key] = self._counts.get(key, 0) + 1
        self._totals.calls += 1
        return call

    def calls_for(self, key: str) -> int:
        """How many calls arrived under key so far (the current one included once begun)."""
        return self._counts.get(key, 0)

    def finish(
        self,
        call: SimLedgerCall,
        status: CallStatus,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        fault: str | None = None,
    ) -> None:
        """Close a call; tokens are billed only for a delivered 2xx response."""
        if call.status != "pending":
            return  # first outcome wins (a late disconnect cannot un-bill a delivered response)
        call.status = status
        call.finished = time.time()
        if fault:
            call.fault = fault
        if isinstance(status, int) and 200 <= status < 300:
            call.billed_prompt_tokens = prompt_tokens
            call.billed_completion_tokens = completion_tokens
            self._totals.billed_prompt_tokens += prompt_tokens
            self._totals.billed_completion_tokens += completion_tokens
            self._totals.billed_tokens += prompt_tokens + completion_tokens

    def snapshot(self, key: str | None = None, prefix: str | None = None) -> SimLedger:
        """The ledger, optionally only the entry `key` or the entries whose key starts with `prefix`."""
        if key is not None:
            entries = {key: self._entries[key]} if key in self._entries else {}
        elif prefix is not None:
            entries = {k: e for k, e in self._entries.items() if k.startswith(prefix)}
        else:
            entries = dict(self._entries)
        return SimLedger(entries=entries, totals=self._totals.model_copy())

    def reset(self) -> None:
        """Forget every call."""
        self._entries.clear()
        self._counts.clear()
        self._totals = SimLedgerTotals()
