"""Per-model token prices: built-in defaults, overridable by a JSON file (GENAI_FLOW_PRICES_FILE)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from runtime.settings import SettingsError, get_settings
from schemas.usage import Usage


class ModelPrice(BaseModel):
    """USD per million tokens."""

    prompt_per_mtok: float = Field(ge=0)
    completion_per_mtok: float = Field(ge=0)


# Nominal prices so the ledger shows a cost for the simulator too; real deployments supply their own table.
DEFAULT_PRICES: dict[str, ModelPrice] = {
    "sim-chat": ModelPrice(prompt_per_mtok=0.15, completion_per_mtok=0.60),
    "sim-embed": ModelPrice(prompt_per_mtok=0.02, completion_per_mtok=0.0),
    "gpt-4o-mini": ModelPrice(prompt_per_mtok=0.15, completion_per_mtok=0.60),
    "gpt-4o": ModelPrice(prompt_per_mtok=2.50, completion_per_mtok=10.00),
    "text-embedding-3-small": ModelPrice(prompt_per_mtok=0.02, completion_per_mtok=0.0),
}


class PriceTable(BaseModel):
    """Prices by model name; unknown models cost nothing (and are easy to spot in the ledger)."""

    prices: dict[str, ModelPrice] = Field(default_factory=lambda: dict(DEFAULT_PRICES))

    def cost(self, usage: Usage) -> float:
        """USD for the billed part of a usage: cache hits and undelivered calls cost nothing."""
        price = self.prices.get(usage.model)
        if price is None or usage.billed_tokens == 0 or usage.cache_hit:
            return 0.0
        return (usage.prompt_tokens * price.prompt_per_mtok + usage.completion_tokens * price.completion_per_mtok) / 1e6

    @classmethod
    def load(cls, path: Path | None) -> PriceTable:
        """Defaults, overlaid by `{"model": {"prompt_per_mtok": .., "completion_per_mtok": ..}}` from path."""
        table = cls()
        if path is None:
            return table
        try:
            extra = json.loads(path.read_text())
            table.prices.update({name: ModelPrice.model_validate(p) for name, p in extra.items()})
        except (OSError, ValueError, ValidationError, AttributeError) as err:
            raise SettingsError(f"GENAI_FLOW_PRICES_FILE: cannot read price table {path}: {err}") from None
        return table


@lru_cache(maxsize=1)
def price_table() -> PriceTable:
    """The process-wide price table."""
    return PriceTable.load(get_settings().prices_file)
