"""Token usage: the one shape every model call reports (CONTRACTS.md, "Never paid twice")."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Usage(BaseModel):
    """Tokens and time one model call (or a sum of calls) cost."""

    model: str = ""
    endpoint: str = ""  # the models file's endpoint that served the call ("" without a models file)
    prompt_tokens: int = Field(0, ge=0)
    completion_tokens: int = Field(0, ge=0)
    billed_tokens: int = Field(0, ge=0)
    cache_hit: bool = False
    latency_ms: float = Field(0.0, ge=0)

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens, billed or not."""
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        """Sum two usages; the model is kept when both agree (an empty side takes the other's), else `mixed`."""
        return Usage(
            model=_merged(self.model, other.model),
            endpoint=_merged(self.endpoint, other.endpoint),
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            billed_tokens=self.billed_tokens + other.billed_tokens,
            cache_hit=self.cache_hit and other.cache_hit,
            latency_ms=self.latency_ms + other.latency_ms,
        )


def total_usage(usages: list[Usage]) -> Usage:
    """Sum a list of usages (an empty list sums to zero)."""
    if not usages:
        return Usage()
    total = usages[0]
    for usage in usages[1:]:
        total = total + usage
    return total


def by_model(usages: list[Usage]) -> list[Usage]:
    """Sum usages per model, cache hits apart (first-seen order), so each sum can be priced at its model's rate.

    Usages without tokens (a tool that called no model) are left out.
    """
    sums: dict[tuple[str, bool], Usage] = {}
    for usage in usages:
        if usage.total_tokens == 0 and usage.billed_tokens == 0:
            continue
        key = (usage.model, usage.cache_hit)
        sums[key] = sums[key] + usage if key in sums else usage
    return list(sums.values())


def _merged(mine: str, theirs: str) -> str:
    """One name for a sum of usages: the name both agree on (an empty side takes the other's), else `mixed`."""
    if theirs in ("", mine):
        return mine
    return theirs if not mine else "mixed"
