"""The project's docs stand alone: no pointer to files outside the repository, every link resolves, and the
reference pages list every endpoint, job status, event type and exit code the code has."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.routing import APIRoute

from gateway.app import create_app
from runtime.settings import get_settings
from schemas.events import EventType
from schemas.ingest import IngestOutcome
from schemas.jobs import ErrorKind, JobStatus
from starter.cli.exit_codes import ExitCode

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_docs_name_no_file_outside_the_repository(page: Path) -> None:
    text = page.read_text()
    for outside in ("CONTRACTS.md", "DESIGN.md", "shared/", "/work/"):
        assert outside not in text, f"{page.name} points at {outside}"


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_relative_links_resolve(page: Path) -> None:
    for target, _anchor in LINK.findall(page.read_text()):
        if "://" in target or target.startswith("mailto:"):
            continue
        assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


def test_http_reference_lists_every_endpoint() -> None:
    text = (ROOT / "docs" / "http-api.md").read_text()
    app = create_app(get_settings())
    for route in app.routes:
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        for method in route.methods - {"HEAD", "OPTIONS"}:
            assert f"`{method} {route.path}" in text, f"docs/http-api.md lacks {method} {route.path}"


def test_reference_lists_every_status_outcome_event_and_exit_code() -> None:
    text = (ROOT / "docs" / "reference.md").read_text()
    for name in [*JobStatus, *ErrorKind, *EventType, *IngestOutcome]:
        assert f"`{name.value}`" in text, f"docs/reference.md lacks {name.value}"
    for code in ExitCode:
        assert f"| {int(code)} |" in text, f"docs/reference.md lacks exit code {int(code)}"
