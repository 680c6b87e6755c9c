"""Split text into retrieval-sized chunks on paragraph and sentence boundaries."""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")


def chunk_text(text: str, max_chars: int = 800, overlap_chars: int = 100) -> list[str]:
    """Chunks of at most ~max_chars, keeping paragraphs whole when they fit and carrying a little overlap."""
    if max_chars <= overlap_chars:
        raise ValueError("max_chars must exceed overlap_chars")
    pieces: list[str] = []
    for para in re.split(r"\n\s*\n", text):
        para = " ".join(_as_sentence(line) for line in para.splitlines())
        para = " ".join(para.split())
        if not para:
            continue
        if len(para) <= max_chars:
            pieces.append(para)
        else:
            pieces.extend(_split_long(para, max_chars))
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        if current and len(current) + 1 + len(piece) > max_chars:
            chunks.append(current)
            tail = current[-overlap_chars:] if overlap_chars else ""
            # Start the overlap at a word boundary so no chunk begins mid-word.
            tail = tail[tail.find(" ") + 1 :] if " " in tail else ""
            current = f"{tail} {piece}".strip() if len(tail) + 1 + len(piece) <= max_chars else piece
        else:
            current = f"{current} {piece}".strip() if current else piece
    if current:
        chunks.append(current)
    return chunks


def _as_sentence(line: str) -> str:
    # A markdown heading loses its `#` marks and introduces what follows ("Title: first sentence ...").
    heading = _HEADING.match(line)
    if not heading:
        return line
    title = heading.group(1).strip()
    return title if not title or title[-1] in ".!?:" else f"{title}:"


def _split_long(para: str, max_chars: int) -> list[str]:
    out: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(para):
        while len(sentence) > max_chars:  # a sentence longer than a chunk: cut at a space
            cut = sentence.rfind(" ", 0, max_chars)
            cut = cut if cut > 0 else max_chars
            if current:
                out.append(current)
                current = ""
            out.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if current and len(current) + 1 + len(sentence) > max_chars:
            out.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip() if current else sentence
    if current:
        out.append(current)
    return out
