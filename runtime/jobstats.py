"""Small per-minute job counters in Redis, so `stats` shows latency, tokens and cost with no Prometheus server.

The job-closing activity writes, per closing job, into one hash per minute `<prefix>:stats:<unix minute>`:
- `jobs|<pipeline>|<outcome>`: jobs closed,
- `lat|<pipeline>|<bucket>`: a latency histogram with log-spaced buckets (upper bound 10 ms * 1.25^bucket; a
  quantile read from it is at most 25% above the true value, plenty to tell 2 s from 20 s),
- `tok|<model>|prompt|completion|billed|cached` and `cost|<model>`: tokens and USD.
Readers merge the minutes of a window. Hashes expire after STATS_TTL_S.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import redis.asyncio

from runtime.keys import RedisKeys
from schemas.answer import StepUsage
from schemas.stats import ModelStats, PipelineStats

STATS_TTL_S = 2 * 24 * 3600
BUCKET_BASE_S = 0.01
BUCKET_GROWTH = 1.25
MAX_BUCKET = 80  # 10 ms * 1.25^80 ≈ 6.6 days: every latency fits


def bucket_of(latency_s: float) -> int:
    """The histogram bucket whose upper bound is the first at or above latency_s."""
    if latency_s <= BUCKET_BASE_S:
        return 0
    return min(MAX_BUCKET, math.ceil(math.log(latency_s / BUCKET_BASE_S, BUCKET_GROWTH) - 1e-9))


def bucket_bound(bucket: int) -> float:
    """The upper bound in seconds of a bucket."""
    return BUCKET_BASE_S * BUCKET_GROWTH**bucket


def quantile(histogram: dict[int, int], q: float) -> float | None:
    """The q-quantile (0..1) of a bucket histogram, as the upper bound of its bucket; None when empty."""
    total = sum(histogram.values())
    if total == 0:
        return None
    rank, seen = q * total, 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return bucket_bound(bucket)
    return bucket_bound(max(histogram))


def minute_of(ts: float) -> int:
    """Unix minute of a timestamp."""
    return int(ts // 60)


@dataclass
class WindowStats:
    """Merged counters of a window: per pipeline outcomes and latency, per model tokens and cost."""

    pipelines: dict[str, PipelineStats] = field(default_factory=dict)
    models: dict[str, ModelStats] = field(default_factory=dict)


class JobStatsStore:
    """Writes a closing job's counters and reads a window of them."""

    def __init__(self, redis: redis.asyncio.Redis, keys: RedisKeys) -> None:
        self.redis = redis
        self.keys = keys

    async def record(
        self, pipeline: str, outcome: str, latency_s: float | None, steps: Iterable[StepUsage], at: float | None = None
    ) -> None:
        """Add one closed job (one round trip)."""
        key = self.keys.stats_minute(minute_of(time.time() if at is None else at))
        pipe = self.redis.pipeline(transaction=False)
        pipe.hincrby(key, f"jobs|{pipeline}|{outcome}", 1)
        if latency_s is not None:
            pipe.hincrby(key, f"lat|{pipeline}|{bucket_of(latency_s)}", 1)
        for step in steps:
            usage, model = step.usage, step.usage.model or "unknown"
            if usage.cache_hit:
                pipe.hincrby(key, f"tok|{model}|cached", usage.prompt_tokens + usage.completion_tokens)
            else:
                pipe.hincrby(key, f"tok|{model}|prompt", usage.prompt_tokens)
                pipe.hincrby(key, f"tok|{model}|completion", usage.completion_tokens)
            pipe.hincrby(key, f"tok|{model}|billed", usage.billed_tokens)
            if step.cost_usd:
                pipe.hincrbyfloat(key, f"cost|{model}", step.cost_usd)
        pipe.expire(key, STATS_TTL_S)
        await pipe.execute()

    async def window(self, minutes: int, now: float | None = None) -> WindowStats:
        """The merged counters of the last `minutes` minutes (the current one included)."""
        last = minute_of(time.time() if now is None else now)
        pipe = self.redis.pipeline(transaction=False)
        for minute in range(last - minutes + 1, last + 1):
            pipe.hgetall(self.keys.stats_minute(minute))
        stats = WindowStats()
        histograms: dict[str, dict[int, int]] = {}
        for fields in await pipe.execute():
            for name, raw in fields.items():
                self._merge(stats, histograms, name.split("|"), raw)
        for pipeline, histogram in histograms.items():
            entry = stats.pipelines.setdefault(pipeline, PipelineStats(pipeline=pipeline))
            entry.p50_s, entry.p95_s = quantile(histogram, 0.5), quantile(histogram, 0.95)
        return stats

    @staticmethod
    def _merge(stats: WindowStats, histograms: dict[str, dict[int, int]], parts: list[str], raw: str) -> None:
        kind = parts[0]
        if kind == "jobs" and len(parts) == 3:
            entry = stats.pipelines.setdefault(parts[1], PipelineStats(pipeline=parts[1]))
            if parts[2] in ("completed", "failed", "dead_lettered"):
                setattr(entry, parts[2], getattr(entry, parts[2]) + int(raw))
        elif kind == "lat" and len(parts) == 3:
            histogram = histograms.setdefault(parts[1], {})
            histogram[int(parts[2])] = histogram.get(int(parts[2]), 0) + int(raw)
        elif kind == "tok" and len(parts) == 3:
            model = stats.models.setdefault(parts[1], ModelStats(model=parts[1]))
            attr = f"{parts[2]}_tokens"
            if hasattr(model, attr):
                setattr(model, attr, getattr(model, attr) + int(raw))
        elif kind == "cost" and len(parts) == 2:
            model = stats.models.setdefault(parts[1], ModelStats(model=parts[1]))
            model.cost_usd += float(raw)
