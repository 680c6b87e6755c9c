"""Split text into retrieval-sized chunks on paragraph and sentence boundaries, keeping each chunk's source span."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

# Blank lines end a paragraph; the next one's indentation is its own (four spaces make a code line, not a heading).
_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n(?:[ \t\r\f\v]*\n)*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")


@dataclass(frozen=True)
class Span:
    """A chunk: its text (whitespace collapsed, headings as sentences) and [start, end) in the source text."""

    start: int
    end: int
    text: str


def chunk_text(text: str, max_chars: int = 800, overlap_chars: int = 100) -> list[str]:
    """Chunks of at most ~max_chars, keeping paragraphs whole when they fit and carrying a little overlap."""
    return [span.text for span in chunk_spans(text, max_chars, overlap_chars)]


def chunk_spans(text: str, max_chars: int = 800, overlap_chars: int = 100) -> list[Span]:
    """Like chunk_text, with each chunk's source span; a chunk's overlap with its predecessor starts at a word."""
    if max_chars <= overlap_chars:
        raise ValueError("max_chars must exceed overlap_chars")
    chunks: list[Span] = []
    current: Span | None = None
    for piece in _pieces(text, max_chars):
        if current is None:
            current = piece
        elif len(current.text) + 1 + len(piece.text) <= max_chars:
            current = Span(current.start, piece.end, f"{current.text} {piece.text}")
        else:
            chunks.append(current)
            current = _with_overlap(text, current, piece, max_chars, overlap_chars)
    if current is not None:
        chunks.append(current)
    return chunks


def _with_overlap(text: str, previous: Span, piece: Span, max_chars: int, overlap_chars: int) -> Span:
    """The next chunk: the piece, preceded by the previous chunk's last words (up to overlap_chars) when they fit."""
    if not overlap_chars:
        return piece
    start = max(previous.end - overlap_chars, previous.start)
    space = re.search(r"\s", text[start : previous.end])
    if space is None:
        return piece
    start += space.end()  # begin at a word, never mid-word
    tail = " ".join(text[start : previous.end].split())
    if not tail or len(tail) + 1 + len(piece.text) > max_chars:
        return piece
    return Span(start, piece.end, f"{tail} {piece.text}")


def _pieces(text: str, max_chars: int) -> Iterator[Span]:
    """Paragraphs, and the sentences (or word-boundary cuts) of paragraphs longer than max_chars."""
    for start, end in _paragraphs(text):
        normalized = _normalize(text[start:end])
        if not normalized:
            continue
        if len(normalized) <= max_chars:
            yield Span(start, end, normalized)
        else:
            yield from _split_long(text, start, end, max_chars)


def _paragraphs(text: str) -> Iterator[tuple[int, int]]:
    position = 0
    for gap in _PARAGRAPH_BREAK.finditer(text):
        yield position, gap.start()
        position = gap.end()
    yield position, len(text)


def _normalize(source: str) -> str:
    return " ".join(" ".join(_as_sentence(line) for line in source.splitlines()).split())


def _as_sentence(line: str) -> str:
    # A markdown heading loses its `#` marks and introduces what follows ("Title: first sentence ...").
    heading = _HEADING.match(line)
    if not heading:
        return line
    title = heading.group(1).strip()
    return title if not title or title[-1] in ".!?:" else f"{title}:"


def _split_long(text: str, start: int, end: int, max_chars: int) -> Iterator[Span]:
    """Sentences of a long paragraph, merged up to max_chars; a sentence longer than that is cut at spaces."""
    current: Span | None = None
    for s_start, s_end in _sentences(text, start, end):
        for part in _cut(text, s_start, s_end, max_chars):
            if current is not None and len(current.text) + 1 + len(part.text) <= max_chars:
                current = Span(current.start, part.end, f"{current.text} {part.text}")
            else:
                if current is not None:
                    yield current
                current = part
    if current is not None:
        yield current


def _sentences(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    position = start
    for gap in _SENTENCE_END.finditer(text, start, end):
        yield position, gap.start()
        position = gap.end()
    if position < end:
        yield position, end


def _cut(text: str, start: int, end: int, max_chars: int) -> Iterator[Span]:
    """A sentence as one span, or cut at the last space before max_chars while it is longer."""
    while start < end:
        normalized = _normalize(text[start:end])
        if len(normalized) <= max_chars:
            if normalized:
                yield Span(start, end, normalized)
            return
        cut = text.rfind(" ", start, start + max_chars)
        cut = cut if cut > start else start + max_chars
        part = _normalize(text[start:cut])
        if part:
            yield Span(start, cut, part)
        start = cut
        while start < end and text[start].isspace():
            start += 1
