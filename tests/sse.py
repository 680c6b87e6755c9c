"""A small Server-Sent Events reader for gateway tests (what a browser's EventSource does, minus reconnects)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class SSE:
    """One dispatched event, or a comment (keep-alive) when `comment` is set."""

    event: str = "message"
    data: Any = None
    id: str | None = None
    comment: str | None = None


async def events(response: httpx.Response) -> AsyncIterator[SSE]:
    """Parse an SSE response body into events and comments as they arrive."""
    current: dict[str, Any] = {}
    data_lines: list[str] = []
    async for line in response.aiter_lines():
        if line == "":
            if data_lines or current:
                raw = "\n".join(data_lines)
                yield SSE(
                    event=current.get("event", "message"), data=json.loads(raw) if raw else None, id=current.get("id")
                )
            current, data_lines = {}, []
            continue
        if line.startswith(":"):
            yield SSE(comment=line[1:].strip())
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            data_lines.append(value)
        elif field in ("event", "id"):
            current[field] = value


async def collect(
    http: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None, stop_after: int | None = None
) -> tuple[list[SSE], int]:
    """Every event until the server closes the stream (or `stop_after` events); returns (events, comment count)."""
    got: list[SSE] = []
    comments = 0
    async with http.stream("GET", url, headers=headers or {}) as response:
        assert response.status_code == 200, (response.status_code, await response.aread())
        assert response.headers["content-type"].startswith("text/event-stream")
        async for item in events(response):
            if item.comment is not None:
                comments += 1
                continue
            got.append(item)
            if stop_after is not None and len(got) >= stop_after:
                break
    return got, comments
