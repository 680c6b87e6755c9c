"""`genai-flow demo` indexes the project's own docs: it finds them from its place in the CLI package."""

from __future__ import annotations

from starter.cli.demo import REPO


def test_the_demo_finds_the_readme_and_docs_it_indexes() -> None:
    assert (REPO / "README.md").is_file()
    assert (REPO / "docs" / "cli.md").is_file()
