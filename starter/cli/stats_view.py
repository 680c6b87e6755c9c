"""The `stats` dashboard: a StatsSnapshot as rich tables (one renderable, so `--watch` can redraw it in place)."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from schemas.stats import StatsSnapshot


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    return f"{value / 60:.1f} min"


def _bar(fraction: float, width: int = 12) -> Text:
    filled = round(fraction * width)
    style = "red" if fraction >= 0.9 else "yellow" if fraction >= 0.6 else "green"
    return Text("█" * filled + "·" * (width - filled), style=style).append(f" {fraction:4.0%}", style="default")


def _queues(snap: StatsSnapshot) -> Table:
    table = Table("task queue", "tasks", "backlog", "oldest", "added/s", "dispatched/s", "pollers", title="Task queues")
    for q in snap.queues:
        backlog = Text(str(q.backlog), style="bold red" if q.backlog and not q.pollers else "")
        table.add_row(
            q.task_queue,
            q.task_type,
            backlog,
            _seconds(q.backlog_age_s) if q.backlog else "-",
            f"{q.add_rate:.1f}",
            f"{q.dispatch_rate:.1f}",
            str(q.pollers),
        )
    return table


def _pipelines(snap: StatsSnapshot) -> Table:
    title = f"Jobs (closed in the last {snap.window_minutes} min)"
    table = Table("pipeline", "in flight", "completed", "failed", "dead-lettered", "p50", "p95", title=title)
    for p in snap.pipelines:
        table.add_row(
            p.pipeline,
            str(p.in_flight),
            str(p.completed),
            str(p.failed),
            str(p.dead_lettered),
            _seconds(p.p50_s),
            _seconds(p.p95_s),
        )
    return table


def _models(snap: StatsSnapshot) -> Table:
    table = Table("model", "prompt", "completion", "billed", "cached", "cost", title="Tokens and cost per model")
    for m in snap.models:
        table.add_row(
            m.model,
            f"{m.prompt_tokens:,}",
            f"{m.completion_tokens:,}",
            f"{m.billed_tokens:,}",
            f"{m.cached_tokens:,}",
            f"${m.cost_usd:.4f}",
        )
    return table


def _workers(snap: StatsSnapshot) -> Table:
    table = Table("worker", "task queue", "slots", "used / available", "utilisation", title="Worker slots")
    for w in snap.workers:
        table.add_row(w.worker, w.task_queue, w.worker_type, f"{w.used} / {w.available}", _bar(w.utilisation))
    if not snap.workers:
        table.add_row("(no worker reporting)", "", "", "", "")
    return table


def _limit(used: int, limit: int | None) -> RenderableType:
    return str(used) if limit is None else _bar(used / limit).append(f" {used:,}/{limit:,}", style="default")


def _endpoints(snap: StatsSnapshot) -> Table:
    table = Table("endpoint", "requests/window", "tokens/window", "in flight", "breaker", "served", "throttled",
                  "waited", "failovers in", "429s", title="Model endpoints (models file)")  # fmt: skip
    for e in snap.endpoints:
        breaker = Text(e.breaker, style="red" if e.breaker != "closed" else "green")
        paused = f" (paused {_seconds(e.paused_s)})" if e.paused_s else ""
        table.add_row(e.endpoint + paused, _limit(e.requests, e.rpm), _limit(e.tokens, e.tpm),
                      _limit(e.in_flight, e.max_concurrency), breaker, str(e.served), str(e.throttled),
                      _seconds(e.throttled_wait_s), str(e.failovers_in), str(e.provider_429))  # fmt: skip
    return table


def render(snap: StatsSnapshot) -> RenderableType:
    """The whole dashboard."""
    prefix = f" · queue prefix {snap.task_queue_prefix!r}" if snap.task_queue_prefix else ""
    header = Text.assemble(
        ("genai-flow stats", "bold"),
        f" · namespace {snap.namespace}{prefix} · {snap.generated_at:%Y-%m-%d %H:%M:%S} UTC",
    )
    footer = Text.assemble(
        ("pending approvals ", "bold"),
        str(snap.pending_approvals),
        ("   dead-lettered (DLQ) ", "bold"),
        (str(snap.dead_lettered), "red" if snap.dead_lettered else ""),
    )
    parts: list[RenderableType] = [header, _queues(snap), _pipelines(snap), _models(snap), _workers(snap)]
    parts += [_endpoints(snap)] if snap.endpoints else []
    parts += [footer]
    parts += [Text(f"could not read {error}", style="yellow") for error in snap.errors]
    return Group(*parts)
