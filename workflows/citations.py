"""Citations that do not depend on the model obeying the `[chunk_id]` convention (pure code, safe in workflows).

The answer is read sentence by sentence. A sentence followed by `[chunk_id]` of a retrieved chunk cites that chunk;
a sentence that names no retrieved chunk (small models often write none, or an id that was never retrieved) is
attributed to the retrieved chunk sentence sharing most of its content words, and to any other chunk sentence it
restates almost word for word (small models run facts of several chunks together); such citations are marked
`inferred`. Either way the quote is cut from the chunk's own text, so it is always a verbatim substring of it:
the model's words are never passed off as the source's. A sentence that shares too little with every chunk ("the
context does not say") cites nothing.

An answer none of whose sentences found a chunk that way (small models paraphrase, misspell names, run facts
together) is attributed as a whole: to the chunk sentence sharing most content words with the answer and the
question it answers, if it shares at least two and one of them is the answer's own. Also marked `inferred`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from schemas.answer import Citation, RetrievedChunk

_CITATION = re.compile(r"\[([^\[\]\s]+)\]")
# A sentence ends at . ! ? before a capital or digit (not after a title or e.g.), or at a blank line.
_SENTENCE_BREAK = re.compile(
    r"(?<!\bMr\.)(?<!\bMs\.)(?<!\bDr\.)(?<!\bMrs\.)(?<!\bProf\.)(?<!\bSt\.)(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\bvs\.)"
    r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])|\n\s*\n"
)
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'_-]*")
_STOPWORD_TEXT = """a about after all also an and any are as at be because been but by can could did do does for
from had has have how i if in into is it its may might more most no not of on or our over so some such than that the
their them then there these they this those to under up was we were what when where which while who whom why will
with would you your according context answer question chunk"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
MAX_QUOTE_CHARS = 300  # a quote longer than this is cut at a word boundary (still a verbatim substring)
MIN_COVERAGE = 0.5  # an inferred citation needs at least half of the sentence's content words in the chunk sentence
RESTATED_SHARE = 0.8  # a chunk sentence is restated when this share of its own content words is in the answer's


@dataclass
class _Claim:
    """One sentence of the answer and the chunk ids written after it."""

    text: str
    ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Span:
    """A sentence of a chunk as offsets into its text, with its content words."""

    chunk: int
    start: int
    end: int
    words: frozenset[str]


def cite(answer: str, chunks: list[RetrievedChunk], question: str = "") -> list[Citation]:
    """A citation per answer sentence and chunk it rests on (repeats merged), in order; quotes verbatim."""
    spans = [span for i, chunk in enumerate(chunks) for span in _spans(i, chunk.text)]
    index = {chunk.chunk_id: i for i, chunk in reversed(list(enumerate(chunks)))}
    found: dict[tuple[str, str], Citation] = {}
    for claim in _claims(answer):
        words = _content_words(claim.text)
        named = [index[cid] for cid in dict.fromkeys(claim.ids) if cid in index]
        if named:
            picks = [(i, _best_span([s for s in spans if s.chunk == i], words), False) for i in named]
        else:
            best = _best_span(spans, words, require=True)
            restated = [s for s in spans if s is not best and _restates(words, s)]
            picks = [(s.chunk, s, True) for s in sorted([best, *restated] if best else restated, key=spans.index)]
        for i, span, inferred in picks:
            chunk = chunks[i]
            quote = _quote(chunk.text, span)
            if (seen := found.get((chunk.chunk_id, quote))) is not None:
                seen.inferred = seen.inferred and inferred  # named explicitly anywhere: not inferred
                continue
            found[chunk.chunk_id, quote] = Citation(
                chunk_id=chunk.chunk_id, source=chunk.source, quote=quote, inferred=inferred
            )
    if not found and (whole := _whole_answer_span(spans, answer, question)) is not None:
        chunk = chunks[whole.chunk]
        return [Citation(chunk_id=chunk.chunk_id, source=chunk.source, quote=_quote(chunk.text, whole), inferred=True)]
    return list(found.values())


def _restates(words: frozenset[str], span: _Span) -> bool:
    """Whether the sentence restates the span: most of the span's own content words (at least three) are in it.

    A small model runs facts of several chunks into one sentence; each chunk sentence it restates is cited. Three
    words at least, so a heading ("The Zephyr reactor") is not restated by every sentence that names its subject.
    """
    shared = len(words & span.words)
    return shared >= 3 and shared / len(span.words) >= RESTATED_SHARE


def _whole_answer_span(spans: list[_Span], answer: str, question: str) -> _Span | None:
    """The span sharing most content words with answer and question together, if it backs the answer at all."""
    said = _content_words(_CITATION.sub(" ", answer))
    asked = _content_words(question)
    best = _best_span(spans, said | asked)
    if best is None or len(best.words & (said | asked)) < 2 or not best.words & said:
        return None
    return best


def _claims(answer: str) -> list[_Claim]:
    """The answer's sentences, each with the citation ids that follow it (ids before any text go to the first)."""
    claims: list[_Claim] = []
    pending: list[str] = []
    for i, part in enumerate(_CITATION.split(answer)):
        if i % 2 == 1:
            (claims[-1].ids if claims else pending).append(part)
            continue
        for sentence in _SENTENCE_BREAK.split(part):
            # Text after a citation starts with the punctuation that closed the cited sentence.
            text = sentence.strip().lstrip(".,;:!?").strip()
            if _content_words(text):
                claims.append(_Claim(text, pending))
                pending = []
    return claims


def _spans(chunk: int, text: str) -> list[_Span]:
    """The sentences of a chunk's text as offsets into it (whitespace trimmed)."""
    spans = []
    start = 0
    for brk in [*_SENTENCE_BREAK.finditer(text), None]:
        end = brk.start() if brk is not None else len(text)
        piece = text[start:end]
        lead = len(piece) - len(piece.lstrip())
        body = piece.strip()
        if body:
            spans.append(_Span(chunk, start + lead, start + lead + len(body), _content_words(body)))
        if brk is not None:
            start = brk.end()
    return spans


def _best_span(spans: list[_Span], words: frozenset[str], require: bool = False) -> _Span | None:
    """The span sharing most content words (earliest on ties); with `require`, None unless it covers enough."""
    best: _Span | None = None
    best_key: tuple[int, float] = (0, 0.0)
    for span in spans:
        shared = len(words & span.words)
        key = (shared, shared / (len(span.words) or 1))
        if best is None or key > best_key:
            best, best_key = span, key
    if not require:
        return best
    if best is None or not words or best_key[0] < min(2, len(words)) or best_key[0] / len(words) < MIN_COVERAGE:
        return None
    return best


def _quote(text: str, span: _Span | None) -> str:
    """The span's text (or the chunk's start), cut at a word boundary past MAX_QUOTE_CHARS: verbatim from text."""
    start, end = (span.start, span.end) if span is not None else (0, len(text))
    quote = text[start:end].strip()
    if len(quote) > MAX_QUOTE_CHARS:
        cut = quote[:MAX_QUOTE_CHARS]
        quote = cut[: cut.rfind(" ")] if " " in cut else cut
    return quote.strip()


def _content_words(text: str) -> frozenset[str]:
    """Lowercased words of text that carry meaning (no stopwords, no single letters), plural s dropped."""
    words = set()
    for word in _WORD.findall(text.lower()):
        if word in _STOPWORDS or len(word) < 2:
            continue
        words.add(word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word)
    return frozenset(words)
