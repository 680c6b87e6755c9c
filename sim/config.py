"""SimConfig: the simulator's knobs, parsed and validated from `genai-flow sim` flags."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

FAULT_KINDS = ("429", "503", "500", "hang", "badjson", "truncate")


class LatencySpec(BaseModel):
    """A response-time distribution: fixed seconds, uniform:a:b, normal:mean:sd or exp:mean."""

    kind: Literal["fixed", "uniform", "normal", "exp"] = "fixed"
    a: float = 0.0
    b: float = 0.0

    @classmethod
    def parse(cls, text: str) -> LatencySpec:
        """Read `0.5`, `500ms`, `uniform:0.2:1.0`, `normal:1:0.2` or `exp:0.5`; ValueError says what is wrong."""
        parts = text.strip().lower().split(":")
        try:
            if len(parts) == 1:
                return cls(kind="fixed", a=_seconds(parts[0]))
            if parts[0] == "uniform" and len(parts) == 3:
                low, high = _seconds(parts[1]), _seconds(parts[2])
                if high < low:
                    raise ValueError("uniform needs low <= high")
                return cls(kind="uniform", a=low, b=high)
            if parts[0] == "normal" and len(parts) == 3:
                return cls(kind="normal", a=_seconds(parts[1]), b=_seconds(parts[2]))
            if parts[0] == "exp" and len(parts) == 2:
                return cls(kind="exp", a=_seconds(parts[1]))
        except ValueError as err:
            raise ValueError(f"bad latency {text!r}: {err}") from None
        raise ValueError(f"bad latency {text!r}: use SECONDS, uniform:LOW:HIGH, normal:MEAN:SD or exp:MEAN")

    @property
    def mean(self) -> float:
        """Expected seconds."""
        return (self.a + self.b) / 2 if self.kind == "uniform" else self.a


def _seconds(text: str) -> float:
    """`0.5`, `0.5s` or `500ms` as seconds (non-negative)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s)?", text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration (e.g. 0.5, 0.5s, 500ms)")
    value = float(match.group(1))
    return value / 1000 if match.group(2) == "ms" else value


def parse_faults(text: str) -> dict[str, float]:
    """Read `429=0.1,503=0.05,hang=0.01`; rates are probabilities per call and must sum to at most 1."""
    rates: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        name = name.strip().lower()
        if not sep or name not in FAULT_KINDS:
            raise ValueError(f"bad fault {item!r}: use KIND=RATE with KIND one of {', '.join(FAULT_KINDS)}")
        try:
            rate = float(value)
        except ValueError:
            raise ValueError(f"bad fault rate {value!r} for {name}") from None
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate for {name} must be between 0 and 1, got {rate}")
        rates[name] = rate
    if sum(rates.values()) > 1.0 + 1e-9:
        raise ValueError(f"fault rates sum to {sum(rates.values()):.3f}, more than 1")
    return rates


class SimConfig(BaseModel):
    """Everything `genai-flow sim` can be told."""

    host: str = "127.0.0.1"
    port: int = Field(8001, ge=0, le=65535)
    latency: LatencySpec | None = None
    ttft: float = Field(0.0, ge=0)
    tps: float | None = Field(None, gt=0)
    concurrency: int = Field(10_000, ge=1)
    faults: dict[str, float] = Field(default_factory=dict)
    seed: int = 0
    dim: int = Field(256, ge=2, le=8192)
    retry_after: float = Field(1.0, ge=0)
    embedder: Literal["hash", "minilm"] = "hash"
    ledger_max_keys: int = Field(100_000, ge=1)
    # Length limits a real server enforces (sim/limits.py); defaults are gpt-4o-mini's and text-embedding-3's.
    context_window: int = Field(128_000, ge=1)
    embed_max_tokens: int = Field(8_192, ge=1)
    rpm: int | None = Field(None, ge=1)  # provider limits (sim/provider.py): requests / tokens per sliding 60 s
    tpm: int | None = Field(None, ge=1)
    limit_window: float = Field(60.0, gt=0, le=3600)  # seconds the rpm/tpm windows span (60: as providers count)
    record_requests: bool = False  # the ledger keeps each request's body (tests assert what a retry sent)
    log_level: str = "warning"

    @field_validator("faults", mode="before")
    @classmethod
    def _faults(cls, value: object) -> object:
        return parse_faults(value) if isinstance(value, str) else value

    @field_validator("latency", mode="before")
    @classmethod
    def _latency(cls, value: object) -> object:
        return LatencySpec.parse(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check(self) -> SimConfig:
        unknown = set(self.faults) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
        return self
