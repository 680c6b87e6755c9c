"""Fitting long text into a table cell or a printed line: whole words only; `--json` keeps the full text."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.table import Column

CELL_CHARS = 300  # a table cell wraps (rich wraps at spaces); past this it is shortened, so one row stays readable
ELLIPSIS = "…"


def shorten(text: str, width: int = CELL_CHARS) -> str:
    """Whitespace collapsed; when longer than width, cut at the last word boundary that fits and end with `…`.

    Unlike `textwrap.shorten`, a first word longer than width (a URL, a path) is cut rather than dropped.
    """
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    cut = flat[: width - len(ELLIPSIS) + 1]
    cut = cut[: cut.rindex(" ")] if " " in cut else cut[:-1]  # the last whole word, else a hard cut
    return cut.rstrip(" ,;:-") + ELLIPSIS


def whole_column(header: str) -> Column:
    """A table column whose long words (job ids, paths) fold onto the next line rather than end in `…`."""
    from rich.table import Column

    return Column(header, overflow="fold")
