"""Documents as blocks of text: headings, paragraphs, list items, table rows and code blocks, one per paragraph.

Markdown is parsed with markdown-it-py (CommonMark plus tables); HTML tables are read cell by cell. Blocks are
joined by blank lines, so the chunker keeps each whole and a quote never runs a heading into the next sentence.
Headings become `#` lines (the chunker turns them into "Title:" lead-ins), code blocks are indented four spaces
(so a shell prompt's `#` is no heading); a table row is its cells joined by
` | ` and ended as a sentence, so a quote holds one row, not the table; inline markup (emphasis, links) is reduced
to its text, so a link's `[text]` never reads as a citation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from markdown_it import MarkdownIt

if TYPE_CHECKING:
    from markdown_it.token import Token

CELL_SEPARATOR = " | "
_HEADING_TAGS = {f"h{n}": n for n in range(1, 7)}


def table_row(cells: list[str]) -> str:
    """A table row as one block: its non-empty cells joined by ` | `, ended as a sentence."""
    row = CELL_SEPARATOR.join(" ".join(cell.split()) for cell in cells if cell.strip())
    return row if not row or row[-1] in ".!?:" else f"{row}."


def code_block(text: str) -> str:
    """A code block indented four spaces, as Markdown writes one: its `# comment` lines are no headings."""
    return "\n".join(f"    {line}" if line.strip() else "" for line in text.strip("\n").splitlines())


def heading(level: int, text: str) -> str:
    """A heading as a Markdown heading line (the chunker reads those)."""
    return f"{'#' * level} {' '.join(text.split())}"


def markdown_blocks(text: str) -> str:
    """The blocks of a Markdown document, joined by blank lines."""
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    blocks: list[str] = []
    row: list[str] | None = None
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            blocks.append(heading(_HEADING_TAGS.get(token.tag, 1), _inline_text(tokens[i + 1])))
        elif token.type == "tr_open":
            row = []
        elif token.type in ("th_open", "td_open") and row is not None:
            row.append(_inline_text(tokens[i + 1]))
        elif token.type == "tr_close" and row is not None:
            blocks.append(table_row(row))
            row = None
        elif token.type == "inline" and row is None and tokens[i - 1].type == "paragraph_open":
            blocks.append(_inline_text(token))
        elif token.type in ("fence", "code_block"):
            blocks.append(code_block(token.content))
        elif token.type == "html_block":
            blocks.append(token.content.strip())
    return "\n\n".join(block for block in blocks if block.strip())


def _inline_text(token: Token) -> str:
    """The text of an inline token: text and code spans kept, markup dropped, line breaks as spaces."""
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline", "html_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(child.content)
    return " ".join("".join(parts).split())
