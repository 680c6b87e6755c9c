"""What the console's job page shows, computed from the client's JobInfo, the run's history and its event stream.

Large payloads never reach the page whole: the answer, citations, entities and the raw result are cut at fixed
bounds (INLINE_CHARS, INLINE_ITEMS) and the page links to the full result as a download instead.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from gateway.state import Gateway
from runtime.at_rest import at_rest_for
from runtime.event_fields import opened_event
from runtime.hosts import is_loopback
from runtime.keys import RedisKeys
from schemas.events import EventType, ProgressEvent
from schemas.jobs import JobInfo

INLINE_CHARS = 20_000  # text shown in the page; the rest is in the download
INLINE_ITEMS = 50  # citations / entities / steps shown in full
RAW_BYTES = 16_384  # the raw result JSON shown in the page
EVENT_SCAN = 5_000  # stream entries read for the waterfall (the stream is itself bounded)


class Cut(BaseModel):
    """A text shown up to a bound: `shown`, and how much was left out."""

    shown: str
    total: int
    truncated: bool


def cut(text: str, limit: int = INLINE_CHARS) -> Cut:
    """The first `limit` characters of `text` and whether it was longer."""
    return Cut(shown=text[:limit], total=len(text), truncated=len(text) > limit)


class StepCost(BaseModel):
    """Tokens and dollars of one step (from the job's priced ledger)."""

    step: str
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    billed_tokens: int = 0
    cache_hit: bool = False
    cost_usd: float = 0.0


class JobView(BaseModel):
    """Everything the job page renders."""

    info: JobInfo
    answer: Cut | None = None
    citations: list[dict[str, Any]] = Field(default_factory=list)
    entities: list[dict[str, Any]] = Field(default_factory=list)
    more_items: bool = False
    costs: list[StepCost] = Field(default_factory=list)
    total_cost: float | None = None
    approvals: list[dict[str, Any]] = Field(default_factory=list)
    raw: Cut
    question: str | None = None


def step_costs(result: dict[str, Any]) -> list[StepCost]:
    """Per-step usage and cost from a result's `steps` ledger (AnswerQuestion's `StepUsage` rows)."""
    rows = []
    for row in result.get("steps") or []:
        if isinstance(row, dict) and isinstance(row.get("usage"), dict):
            usage = row["usage"]
            rows.append(
                StepCost(
                    step=str(row.get("step", "")),
                    model=str(usage.get("model", "")),
                    prompt_tokens=int(usage.get("prompt_tokens", 0)),
                    completion_tokens=int(usage.get("completion_tokens", 0)),
                    billed_tokens=int(usage.get("billed_tokens", 0)),
                    cache_hit=bool(usage.get("cache_hit", False)),
                    cost_usd=float(row.get("cost_usd", 0.0)),
                )
            )
    return rows


def job_view(info: JobInfo) -> JobView:
    """The job page's content, every large part cut to its bound."""
    result = info.result or {}
    raw = json.dumps(result or (info.error.model_dump() if info.error else {}), indent=2, default=str)
    answer = result.get("answer")
    citations = [c for c in result.get("citations") or [] if isinstance(c, dict)]
    entities = [e for e in result.get("entities") or [] if isinstance(e, dict)]
    cost = result.get("cost_usd")
    return JobView(
        info=info,
        answer=cut(answer) if isinstance(answer, str) else None,
        citations=[{**c, "quote": str(c.get("quote", ""))[:2000]} for c in citations[:INLINE_ITEMS]],
        entities=entities[:INLINE_ITEMS],
        more_items=len(citations) > INLINE_ITEMS or len(entities) > INLINE_ITEMS,
        costs=step_costs(result)[:INLINE_ITEMS],
        total_cost=float(cost) if isinstance(cost, int | float) else None,
        approvals=[a for a in result.get("approvals") or [] if isinstance(a, dict) and not a.get("ignored")],
        raw=cut(raw, RAW_BYTES),
        question=result.get("question") if isinstance(result.get("question"), str) else None,
    )


async def step_events(gw: Gateway, job_id: str) -> list[ProgressEvent]:
    """The job's step and approval events (tokens skipped unread: their `type` field is in the clear)."""
    stream = RedisKeys.of(gw.settings).events(job_id)
    at_rest = at_rest_for(gw.settings.encryption_entries)
    entries: list[tuple[str, dict[str, str]]] = await gw.redis.xrange(stream, count=EVENT_SCAN)  # type: ignore[assignment]
    wanted = {t.value for t in EventType if t is not EventType.TOKEN}
    return [opened_event(fields, at_rest, stream) for _id, fields in entries if fields.get("type") in wanted]


def approvals_from_events(events: list[ProgressEvent]) -> list[dict[str, Any]]:
    """Decisions of a run still going (its result, with the full list, comes at the end)."""
    return [{"at": e.at, **e.data} for e in events if e.type in (EventType.APPROVED, EventType.REJECTED)]


def temporal_ui_link(gw: Gateway, job_id: str) -> str | None:
    """The run's page in the Temporal Web UI that `up` starts beside a loopback dev server (None elsewhere)."""
    s = gw.settings
    host = s.temporal_address.rsplit(":", 1)[0].strip("[]")
    if not is_loopback(host):
        return None
    return f"http://127.0.0.1:{s.temporal_ui_port}/namespaces/{s.temporal_namespace}/workflows/{job_id}"


def started_at(info: JobInfo) -> datetime | None:
    """The job's start, the waterfall's zero."""
    return info.created_at
