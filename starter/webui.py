"""What a person reading a job in the Temporal Web UI sees first: its static details (markdown)."""

from __future__ import annotations

import json

from pydantic import BaseModel

from schemas.jobs import Pipeline

MAX_VALUE_CHARS = 200  # details are for reading, the full input is one click away in the UI


def _cell(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def job_details(pipeline: Pipeline, request: BaseModel, owner: str | None, replay_of: str | None) -> str:
    """Markdown: pipeline, owner, replay origin and the request's fields as a table."""
    header = f"**{pipeline.value}** job"
    if owner:
        header += f" · owner `{owner}`"
    if replay_of:
        header += f" · replay of `{replay_of}`"
    rows = [
        f"| {name} | {_cell(value)} |"
        for name, value in request.model_dump(mode="json", exclude_none=True).items()
        if value not in ("", [], {})
    ]
    table = ["| field | value |", "|---|---|", *rows] if rows else []
    footer = "Each step is an activity in the timeline below; its summary says what it did."
    return "\n".join([header, "", *table, "", footer])
