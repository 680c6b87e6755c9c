"""Jinja2 rendering of console pages (autoescaped templates shipped in the package; no CDN, no build step)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from gateway.console.access import ConsoleUser

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


def money(value: float | None) -> str:
    """Dollars with enough places for a simulator's fractions of a cent."""
    return "—" if value is None else f"${value:,.6f}"


def age(when: datetime | None, now: datetime | None = None) -> str:
    """How long ago, in the largest fitting unit (`42 s`, `3 min`, `5 h`, `2 d`)."""
    if when is None:
        return "—"
    seconds = max(0.0, ((now or datetime.now(UTC)) - when).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size:.0f} {unit}"
    return f"{seconds:.0f} s"


def duration(seconds: float | None) -> str:
    """Seconds as `850 ms` or `2.4 s`."""
    if seconds is None:
        return "—"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), enable_async=False)
_env.filters.update(money=money, age=age, duration=duration)


def page(template: str, user: ConsoleUser | None, http_status: int = 200, **context: Any) -> HTMLResponse:
    """A rendered console page; `user` (None on error pages before sign-in) gives the nav and the CSRF token."""
    html = _env.get_template(template).render(user=user, csrf=user.csrf if user else "", **context)
    return HTMLResponse(html, status_code=http_status)
