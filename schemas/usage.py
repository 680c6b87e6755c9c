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
        """Sum two usages; the model is kept when both agree."""
        return Usage(
            model=self.model if self.model in ("", other.model) or not other.model else "mixed",
            endpoint=self.endpoint if self.endpoint in ("", other.endpoint) or not other.endpoint else "mixed",
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
