"""Extraction keeps a document's structure: table cells, headings, list items and code blocks stay apart."""

from __future__ import annotations

from pathlib import Path

from activities.chunking import chunk_text
from activities.citations import cite
from activities.extraction import extract
from schemas.answer import RetrievedChunk
from tests.grounding_corpus import GLASSHOUSES_HTML

PAGE = Path(__file__).parent / "pages" / "users-and-groups.html"  # a documentation page with a table, as published

MARKDOWN = """# Deploying

See [the operations guide](ops.md) for **details**.

- Redis 7 or later
- Chroma on port 8002

| Service | Port |
|---|---|
| gateway | 8000 |
| Temporal | 7233 |

```
# start everything
genai-flow up
```
"""


def test_html_table_cells_are_separated_and_each_row_is_a_block() -> None:
    text = extract(PAGE.read_bytes(), PAGE.name).text
    assert "\n\nGroup | Group id | Grants access to.\n\n" in text
    assert "\n\ndialout | 20 | serial ports and modems.\n\n" in text
    assert "\n\nplugdev | 46 | removable devices without an fstab entry.\n\n" in text
    assert "GroupGroup id" not in text and "dialout20" not in text
    glasshouses = extract(GLASSHOUSES_HTML.encode(), "glasshouses.html").text
    assert "Tamarind House (tropical) | 29 degrees Celsius | Giant water lily." in glasshouses
    assert "GlasshouseKept at" not in glasshouses and "Home" not in glasshouses  # <nav> is page chrome


def test_html_headings_and_code_do_not_run_into_the_text() -> None:
    text = extract(PAGE.read_bytes(), PAGE.name).text
    assert "\n\n### 4.2.1. root\n\nRoot is the administrator account" in text
    assert "pageTracker" not in text
    [chunk] = chunk_text(text)
    # The heading leads its section in; a shell prompt's `#` in a <pre> is code, not a heading.
    assert "4.2.1. root: Root is the administrator account" in chunk
    assert "# adduser alice audio" in chunk


def test_markdown_is_read_as_blocks() -> None:
    text = extract(MARKDOWN.encode(), "deploy.md").text
    assert text.split("\n\n") == [
        "# Deploying",
        "See the operations guide for details.",
        "Redis 7 or later",
        "Chroma on port 8002",
        "Service | Port.",
        "gateway | 8000.",
        "Temporal | 7233.",
        "    # start everything\n    genai-flow up",
    ]


def test_a_quote_holds_the_row_the_answer_rests_on() -> None:
    chunks = [
        RetrievedChunk(chunk_id=f"g#{i}", text=t)
        for i, t in enumerate(chunk_text(extract(GLASSHOUSES_HTML.encode(), "g.html").text))
    ]
    [citation] = cite("The Tamarind House is kept at 29 degrees Celsius.", chunks)
    assert citation.quote == "Tamarind House (tropical) | 29 degrees Celsius | Giant water lily."
