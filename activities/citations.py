"""Citations that do not depend on the model obeying the `[chunk_id]` convention (pure code, safe in workflows).

The answer is read sentence by sentence. A sentence followed by `[chunk_id]` of a retrieved chunk cites that chunk
(an id without its `#n`, as small models write it, names its document's retrieved chunks), unless the chunk shares
not one content word with the sentence: a named chunk the sentence says nothing of is a wrong id, and the sentence
is attributed as if it named none. A sentence that names no retrieved chunk is attributed to the chunk sentences
that together cover its content words: first the one sharing most of them, then, for what is left, any other that
shares at least two of the words not yet covered (small models run facts of several chunks together), and any
chunk sentence it restates almost word for word. Each must cover half of the words it is asked to cover or half
of its own; such citations are marked `inferred`. Either way the quote is cut from the chunk's own text, so it is
always a verbatim substring of it: the model's words are never passed off as the source's. A sentence that
shares too little with every chunk ("the context does not say") cites nothing.

The answer as a whole, with the question it answers, is also attributed: to the chunk sentence sharing most words
with the question (then with the answer), if the answer shares one of its own words with it and two in all. It is
cited (`inferred`) when no sentence cited its chunk: a small model that paraphrases, misspells names or runs in
facts of other chunks still points the reader at the passage the question is about, and an answer that shares
nothing with it ("I cannot tell") is not attributed at all.
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


@dataclass
class CitedSentence:
    """One sentence of the answer (its text without citation ids) and the citations it rests on."""

    text: str
    citations: list[Citation] = field(default_factory=list)


def cite(answer: str, chunks: list[RetrievedChunk], question: str = "") -> list[Citation]:
    """A citation per answer sentence and chunk it rests on (repeats merged), in order; quotes verbatim."""
    sentences, topic = cite_sentences(answer, chunks, question)
    cited = [c for s in sentences for c in s.citations]
    found: dict[tuple[str, str], Citation] = {}
    for citation in cited + ([topic] if topic and needs_topic(topic, cited, question) else []):
        if (seen := found.get((citation.chunk_id, citation.quote))) is not None:
            seen.inferred = seen.inferred and citation.inferred  # named explicitly anywhere: not inferred
            continue
        found[citation.chunk_id, citation.quote] = citation.model_copy()
    return list(found.values())


def cite_sentences(
    answer: str, chunks: list[RetrievedChunk], question: str = ""
) -> tuple[list[CitedSentence], Citation | None]:
    """Each answer sentence with its own citations, and the passage the answer and question point at (if any).

    The caller decides whether that passage is cited (`needs_topic`): `cite` against every sentence's citations,
    the grounding check against the evidence it keeps.
    """
    spans = [span for i, chunk in enumerate(chunks) for span in _spans(i, chunk.text)]
    asked = _content_words(question)

    def citation(i: int, span: _Span | None, inferred: bool) -> Citation:
        chunk = chunks[i]
        return Citation(chunk_id=chunk.chunk_id, source=chunk.source, quote=_quote(chunk.text, span), inferred=inferred)

    sentences: list[CitedSentence] = []
    for claim in _claims(answer):
        words = _content_words(claim.text)
        named = _named(claim.ids, chunks, spans, words)
        if named:
            found = [citation(i, _best_span([s for s in spans if s.chunk == i], words or asked), False) for i in named]
        else:
            found = [citation(span.chunk, span, True) for span in _inferred(spans, words)]
        sentences.append(CitedSentence(claim.text, found))
    topic = _topic_span(spans, _content_words(_CITATION.sub(" ", answer)), asked)
    return sentences, citation(topic.chunk, topic, True) if topic is not None else None


def needs_topic(topic: Citation, cited: list[Citation], question: str) -> bool:
    """Whether the answer-level passage is cited: no sentence cites anything, or none cites the question's chunk."""
    return not cited or (bool(_content_words(question)) and topic.chunk_id not in {c.chunk_id for c in cited})


def _named(ids: list[str], chunks: list[RetrievedChunk], spans: list[_Span], words: frozenset[str]) -> list[int]:
    """The retrieved chunks the ids name (exactly, or by document) that share a content word with the sentence."""
    named: list[int] = []
    for cid in dict.fromkeys(ids):
        exact = [i for i, chunk in enumerate(chunks) if chunk.chunk_id == cid]
        same_doc = [i for i, chunk in enumerate(chunks) if chunk.chunk_id.rsplit("#", 1)[0] == cid]
        candidates = exact[:1] or same_doc
        if len(candidates) > 1:  # a document id: its chunk that says most of what the sentence says
            candidates = [
                max(candidates, key=lambda i: max((len(words & s.words) for s in spans if s.chunk == i), default=0))
            ]
        named += [i for i in candidates if i not in named]
    if not words:
        return named
    return [i for i in named if any(words & s.words for s in spans if s.chunk == i)]


def _inferred(spans: list[_Span], words: frozenset[str]) -> list[_Span]:
    """The spans a sentence rests on, in chunk order: a greedy cover of its words, then the spans it restates."""
    picked: list[_Span] = []
    left = words
    while left:
        rest = [s for s in spans if s not in picked]
        best = _best_span(rest, left)
        if best is None or not _covers(best, left, least=min(2, len(left)) if not picked else 2):
            break
        picked.append(best)
        left = left - best.words
    picked += [s for s in spans if s not in picked and _restates(words, s)]
    return sorted(picked, key=spans.index)


def _covers(span: _Span, words: frozenset[str], least: int) -> bool:
    """Whether the span backs these words: `least` of them at least, and half of them or half of its own."""
    shared = len(words & span.words)
    return shared >= least and (shared / len(words) >= MIN_COVERAGE or shared / (len(span.words) or 1) >= MIN_COVERAGE)


def _restates(words: frozenset[str], span: _Span) -> bool:
    """Whether the sentence restates the span: most of the span's own content words (at least three) are in it.

    Three words at least, so a heading ("The Zephyr reactor") is not restated by every sentence naming its subject.
    """
    shared = len(words & span.words)
    return shared >= 3 and shared / len(span.words) >= RESTATED_SHARE


def _topic_span(spans: list[_Span], said: frozenset[str], asked: frozenset[str]) -> _Span | None:
    """The span sharing most words with the question, then the answer, if it backs the answer at all."""
    best: _Span | None = None
    best_key: tuple[int, int, float] = (0, 0, 0.0)
    for span in spans:
        answered, both = len(said & span.words), len((said | asked) & span.words)
        if answered < 1 or both < 2:
            continue
        key = (len(asked & span.words), answered, both / len(span.words))
        if best is None or key > best_key:
            best, best_key = span, key
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
    if pending:  # ids and no sentence with content ("The answer is: [a.md#0]"): they name the answer's chunks
        claims.append(_Claim("", pending))
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


def _best_span(spans: list[_Span], words: frozenset[str]) -> _Span | None:
    """The span sharing most content words, then the largest share of its own (earliest on ties)."""
    best: _Span | None = None
    best_key: tuple[int, float] = (0, 0.0)
    for span in spans:
        shared = len(words & span.words)
        key = (shared, shared / (len(span.words) or 1))
        if best is None or key > best_key:
            best, best_key = span, key
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
    """Lowercased words of text that carry meaning (no stopwords, no single letters), plural and possessive s off."""
    words = set()
    for found in _WORD.findall(text.lower()):
        word = found.removesuffix("'s").removesuffix("'")  # the bridge's span, the Harlows' orchard
        if word in _STOPWORDS or len(word) < 2:
            continue
        words.add(word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word)
    return frozenset(words)
