"""Extractive text: sentences, chunked context parsing, summaries and question answers.

Context format read from a prompt: each chunk starts on a line `[<chunk_id>] <text>` and runs until the
next chunk line, a blank line or the `Question: <question>` line.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field


def word_set(words: str) -> frozenset[str]:
    """A set of the whitespace-separated words of a string (word lists read better as one string)."""
    return frozenset(words.split())


STOPWORDS = word_set(
    """a about above after again against all am an and any are as at be because been before being below between
    both but by can could did do does doing down during each few for from further had has have having he her here
    hers herself him himself his how i if in into is it its itself just me more most my myself no nor not now of
    off on once only or other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up very was we were what
    when where which while who whom why will with would you your yours yourself yourselves also may might must
    shall s t don did does please tell give list describe explain question answer according context"""
)

_CHUNK_LINE = re.compile(r"^\s*\[([^\[\]\s]{1,200})\]\s+(.*)$")
_QUESTION_LINE = re.compile(r"^\s*Question:\s*(.*)$", re.IGNORECASE)
_SENTENCE_END = re.compile(
    r"(?<!\bMr\.)(?<!\bMs\.)(?<!\bDr\.)(?<!\bMrs\.)(?<!\bProf\.)(?<!\bSt\.)(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\bvs\.)"
    r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])|\n\s*\n|\n(?=\s*[-*•]\s)"
)
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'_-]*")


@dataclass
class Chunk:
    """A labelled piece of context."""

    chunk_id: str
    text: str


@dataclass
class Source:
    """The text a completion is generated from: labelled chunks (if any), a question (if any), the raw text."""

    text: str
    chunks: list[Chunk] = field(default_factory=list)
    question: str | None = None

    @property
    def body(self) -> str:
        """The context without the question line: chunk texts when labelled, else the whole text."""
        return "\n\n".join(c.text for c in self.chunks) if self.chunks else self.text


def parse_source(text: str) -> Source:
    """Find `[chunk_id] text` lines and a `Question:` line in a prompt."""
    chunks: list[Chunk] = []
    question: str | None = None
    current: Chunk | None = None
    for line in text.splitlines():
        if m := _QUESTION_LINE.match(line):
            question, current = m.group(1).strip() or question, None
        elif m := _CHUNK_LINE.match(line):
            current = Chunk(m.group(1), m.group(2).strip())
            chunks.append(current)
        elif not line.strip():
            current = None
        elif current is not None:
            current.text = f"{current.text} {line.strip()}".strip()
    return Source(text=text, chunks=[c for c in chunks if c.text], question=question)


def sentences(text: str) -> list[str]:
    """Text split into sentences (whitespace collapsed)."""
    out = []
    for part in _SENTENCE_END.split(text):
        cleaned = " ".join(part.split()).lstrip("-*• ").strip()
        if cleaned:
            out.append(cleaned)
    return out


def stem(word: str) -> str:
    """A crude stem: lowercase, trailing possessive and plural s removed."""
    word = word.lower().removesuffix("'s")
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def content_words(text: str) -> list[str]:
    """Stemmed words of text that are not stopwords."""
    return [stem(w) for w in _WORD.findall(text) if w.lower() not in STOPWORDS]


def _all_sentences(source: Source) -> list[tuple[str, str | None]]:
    """Every sentence of the source with the chunk id it came from (None when unlabelled)."""
    if source.chunks:
        return [(s, c.chunk_id) for c in source.chunks for s in sentences(c.text)]
    return [(s, None) for s in sentences(source.text)]


def summary_sentences(source: Source, limit: int = 3) -> list[tuple[str, str | None]]:
    """The `limit` most central sentences (by content-word frequency), in document order."""
    sents = _all_sentences(source)
    if not sents:
        return []
    freq = Counter(w for s, _ in sents for w in content_words(s))
    scored = []
    for index, (sent, cid) in enumerate(sents):
        words = content_words(sent)
        # Length-normalised centrality, with a small bonus for early sentences (leads carry the gist).
        score = sum(freq[w] for w in set(words)) / math.sqrt(len(words) + 1) + 0.5 / (index + 1)
        scored.append((score, index, sent, cid))
    best = sorted(scored, key=lambda t: (-t[0], t[1]))[:limit]
    return [(sent, cid) for _, _, sent, cid in sorted(best, key=lambda t: t[1])]


def summarize(source: Source, limit: int | None = None) -> str:
    """An extractive summary: 1-3 central sentences depending on the text's length."""
    count = limit or max(1, min(3, len(_all_sentences(source)) // 3 + 1))
    return " ".join(s for s, _ in summary_sentences(source, count))


def answer_sentences(source: Source, question: str, limit: int = 3) -> list[tuple[str, str | None]]:
    """Up to `limit` sentences overlapping the question most, best first (at least one when any exist)."""
    wanted = set(content_words(question))
    sents = _all_sentences(source)
    if not sents:
        return []
    scored = []
    for index, (sent, cid) in enumerate(sents):
        words = set(content_words(sent))
        overlap = len(words & wanted)
        scored.append((overlap + overlap / (len(words) + 1), index, sent, cid))
    scored.sort(key=lambda t: (-t[0], t[1]))
    top = scored[0][0]
    if top <= 0:
        return [(s, c) for _, _, s, c in scored[:1]]
    return [(s, c) for score, _, s, c in scored[:limit] if score >= top * 0.5]


def answer(source: Source, cite: bool = True) -> str:
    """The extractive answer: best-matching sentences each followed by ` [chunk_id]` (with `cite`), else a summary."""
    if source.chunks and source.question:
        picked = answer_sentences(source, source.question)
        return " ".join(f"{s} [{cid}]" if cite else s for s, cid in picked)
    if source.question:
        return " ".join(s for s, _ in answer_sentences(source, source.question, 2)) or summarize(source)
    return summarize(source)


def keywords(source: Source, limit: int = 5) -> list[str]:
    """The most frequent content words, longest first among equals."""
    counts = Counter(
        w.lower().removesuffix("'s") for w in _WORD.findall(source.body) if w.lower() not in STOPWORDS and len(w) > 2
    )
    return [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], -len(kv[0]), kv[0]))[:limit]]


def title(source: Source, words: int = 8) -> str:
    """A short title: the first words of the most central sentence."""
    best = summary_sentences(source, 1)
    text = best[0][0] if best else source.body
    return " ".join(text.rstrip(".!?").split()[:words])
