"""The grounding check of a generated answer: deterministic, run inside the chat step that wrote the answer.

Contract. Given the model's answer, the question, the retrieved chunks and the entities found:
- A run-on is cut first: text after an invented follow-up turn ("\\n\\nQuestion: …") is no part of the answer.
- Each sentence is cited (activities/citations.py) and checked. Every number, year, quantity and name it states
  (activities/claim_values.py; "1,046" = "1046", "29 °C" = "29 degrees") must be in a quote it cites. A value that
  is not, while a cited quote holds a different value of the same kind (another year, another number, a
  near-identical name), is a contradiction, reported with that quote; otherwise the value may come from any
  retrieved chunk. A value in no chunk at all, or a sentence that rests on no chunk, is unsupported. Only
  supported sentences keep their citations as evidence; the passage the question points at stays, as `context`.
- The answer says the documents do not contain it (the model's text kept in `model_answer`, the reason recorded,
  the closest passage cited as `context`) when nothing retrieved reaches the embedding model's score floor, or
  when no sentence of the answer is supported.
- Entity evidence is always a retrieved chunk id: an entity whose id names no retrieved chunk, or a chunk that does
  not hold its text, moves to the chunk that holds its text; with none, it is dropped. Both are counted.
The check runs in the activity, not the workflow, so a later change to it never alters a replayed history.
"""

from __future__ import annotations

import difflib
import re

from activities.citations import MAX_QUOTE_CHARS, CitedSentence, cite, cite_sentences, needs_topic
from activities.claim_values import Value, numbers, values, words
from runtime.settings import LOCAL_EMBED_MODEL, Settings
from schemas.answer import Citation, Entity, RetrievedChunk
from schemas.grounded import GroundedAnswer, GroundingInput
from schemas.grounding import AnswerVerdict, Conflict, Grounding, SentenceCheck, Verdict

_CHUNK_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_PRONOUN = re.compile(r"(?:It|Its|They|Their|He|His|She|Her|This|These|There)\b")
_RUN_ON = re.compile(
    r"\n\s*(?:Question|Q|User|Human|Context|Assistant)\s*:|<\|im_(?:start|end)\|>|<\|endoftext\|>", re.IGNORECASE
)
# Best-chunk cosine similarity below which nothing retrieved is about the question, per embedding model. sim-embed:
# on the labelled corpus (tests/grounding_corpus.py) and the test-real corpus every answerable question's best chunk
# scored 0.157 or more. all-MiniLM-L6-v2: the test-real questions score 0.72 to 0.83 against their own document
# and at most 0.35 against any other (docs/models.md).
SCORE_FLOORS = {"sim-embed": 0.12, LOCAL_EMBED_MODEL: 0.3}
NOT_IN_DOCUMENTS = "The documents do not contain the answer to this question."
NAME_LIKENESS = 0.6  # names this alike (difflib ratio) are the same kind of value: Harlow and Harlan
# A name no retrieved chunk holds, this alike to a name of its quote, is that name misspelt ("Zephyre", "Aldge"):
# the sentence speaks of the quote's name, so it is no rival. Harlan, in a chunk of its own, stays a rival of Harlow.
MISSPELT_LIKENESS = 0.75
MISSPELT_PREFIX = 4  # or as alike as two rival names and opening with the same four letters ("Aldgement", "Aldgate")
_REFUSAL = re.compile(
    r"\b(?:not|no|cannot|can't|doesn't|don't|unable)\b.*\b(?:contain|say|mention|include|provide|specif|state|know|"
    r"information|answer|found)",
    re.IGNORECASE,
)


def score_floor(settings: Settings) -> float | None:
    """GENAI_FLOW_SCORE_FLOOR, else the measured floor of the embedding model (None: no floor known)."""
    if settings.score_floor is not None:
        return settings.score_floor
    return SCORE_FLOORS.get(settings.embed_model)


def trim_run_on(text: str) -> tuple[str, bool]:
    """The answer without an invented follow-up turn, and whether one was cut."""
    match = _RUN_ON.search(text)
    if match is None or not text[: match.start()].strip():
        return text, False
    return text[: match.start()].rstrip(), True


def ground(answer: str, source: GroundingInput, floor: float | None) -> GroundedAnswer:
    """The checked answer: verdicts per sentence and overall, evidence-only citations, entities with real ids."""
    text, trimmed = trim_run_on(answer)
    chunks = source.chunks
    entities, repaired, dropped = check_entities(source.entities, chunks)
    cited, topic = cite_sentences(text, chunks, source.question)
    sentences = _carried(cited)
    asked = {(v.kind, v.norm) for v in values(source.question) if v.kind == "name"}
    checks: list[SentenceCheck] = []
    for i, sentence in enumerate(sentences):
        check = check_sentence(sentence, chunks, _referent(sentence.text, sentences[i - 1].text if i else None, asked))
        if checks and checks[-1].conflict is not None and check.values and set(check.values) <= set(checks[-1].values):
            # "The answer is 812." repeats the sentence before it: a contradicted claim is not backed by repeating it.
            check = check.model_copy(
                update={"verdict": Verdict.CONTRADICTED, "conflict": checks[-1].conflict, "cited": []}
            )
        checks.append(check)
    supported = [c for c in checks if c.verdict is Verdict.SUPPORTED]
    best = max((c.score for c in chunks), default=None)
    grounding = Grounding(
        verdict=AnswerVerdict.SUPPORTED,
        score=round(len(supported) / len(checks), 3) if checks else 0.0,
        sentences=checks,
        best_score=best,
        score_floor=floor,
        trimmed=trimmed,
        entities_repaired=repaired,
        entities_dropped=dropped,
    )
    reason = _not_in_documents(checks, best, floor)
    if reason is not None:
        grounding.verdict, grounding.reason, grounding.model_answer = AnswerVerdict.NOT_IN_DOCUMENTS, reason, text
        found = _found_instead(source.question, chunks)
        said = f'{NOT_IN_DOCUMENTS} The closest passage found, in {found.source or found.chunk_id}: "{found.quote}"'
        if not found.quote:
            return GroundedAnswer(answer=NOT_IN_DOCUMENTS, entities=entities, grounding=grounding)
        return GroundedAnswer(answer=said, citations=[found], entities=entities, grounding=grounding)
    if any(c.verdict is Verdict.CONTRADICTED for c in checks):
        grounding.verdict = AnswerVerdict.CONTRADICTED
    elif len(supported) < len(checks):
        grounding.verdict = AnswerVerdict.PARTLY_SUPPORTED
    evidence = [c for s, check in zip(sentences, checks, strict=True) if check in supported for c in s.citations]
    # Weighed against the evidence kept: the question's passage a dropped sentence cited stays, as context.
    context = []
    if topic is not None and needs_topic(topic, evidence, source.question):
        context = [topic.model_copy(update={"label": "context"})]
    return GroundedAnswer(answer=text, citations=_merged(evidence + context), entities=entities, grounding=grounding)


def _carried(sentences: list[CitedSentence]) -> list[CitedSentence]:
    """A sentence stating a number but no name, resting on no chunk ("So the answer is 1047."), speaks of what the
    sentence before it cited: it is checked against those quotes, so a number that differs from them is a
    contradiction rather than a stray unsupported value."""
    out: list[CitedSentence] = []
    for sentence in sentences:
        stated = values(sentence.text)
        if not sentence.citations and out and out[-1].citations and stated and all(v.kind != "name" for v in stated):
            sentence = CitedSentence(sentence.text, list(out[-1].citations))
        out.append(sentence)
    return out


def check_sentence(
    sentence: CitedSentence, chunks: list[RetrievedChunk], subject: list[Value] | None = None
) -> SentenceCheck:
    """A sentence's verdict: each value in its cited quotes, else contradicted by them, else in the context or missing.

    The quote comes first: a chunk about two near-identical things (Harlow's 1911, Harlan's 1926) holds both years,
    and only the sentence the citation quotes says which belongs to what the answer speaks of. `subject` names what
    a sentence opening with a pronoun speaks of ("It holds 812 species."): the number is then bound to it as if
    the sentence named it first.
    """
    context = [piece for c in chunks for piece in _CHUNK_SENTENCE.split(c.text)]
    stated = values(sentence.text)
    own = {(v.kind, v.norm) for v in stated}
    bound = stated + [v for v in subject or [] if (v.kind, v.norm) not in own]
    own |= {(v.kind, v.norm) for v in bound}
    shown = [v.text for v in stated]
    if not sentence.citations:
        missing = [v.text for v in stated if not _in_context(v, stated, context)]
        return SentenceCheck(text=sentence.text, verdict=Verdict.UNSUPPORTED, values=shown, missing=missing)
    scoped = [c.model_copy(update={"quote": _scope(c, chunks)}) for c in sentence.citations]
    quotes = [c.quote for c in scoped]
    misspelt = _misspelt(stated, quotes, chunks)
    own |= set(misspelt.values())
    conflict: Conflict | None = None
    missing = []
    for value in stated:
        if _holds(value, quotes) or value in misspelt:
            continue
        conflict = conflict or _conflict(value, own, scoped)
        if conflict is None and not _in_context(value, stated, context):
            missing.append(value.text)
    conflict = conflict or _misbound(sentence.text, bound, own, scoped) or _borrowed(bound, own, scoped)
    if conflict is not None:
        return SentenceCheck(
            text=sentence.text, verdict=Verdict.CONTRADICTED, values=shown, missing=missing, conflict=conflict
        )
    if missing:
        return SentenceCheck(text=sentence.text, verdict=Verdict.UNSUPPORTED, values=shown, missing=missing)
    cited = list(dict.fromkeys(c.chunk_id for c in sentence.citations))
    return SentenceCheck(text=sentence.text, verdict=Verdict.SUPPORTED, values=shown, cited=cited)


def check_entities(entities: list[Entity], chunks: list[RetrievedChunk]) -> tuple[list[Entity], int, int]:
    """Entities whose evidence is a retrieved chunk holding their text (moved there if need be); repaired, dropped."""
    kept: list[Entity] = []
    repaired = dropped = 0
    by_id = {c.chunk_id: c for c in chunks}
    for entity in entities:
        needle = " ".join(entity.text.lower().split())
        named = by_id.get(entity.evidence_chunk_id)
        if named is not None and needle in " ".join(named.text.lower().split()):
            kept.append(entity)
            continue
        holder = next((c for c in chunks if needle and needle in " ".join(c.text.lower().split())), None)
        if holder is not None:
            kept.append(entity.model_copy(update={"evidence_chunk_id": holder.chunk_id}))
            repaired += 1
        elif named is not None:
            kept.append(entity)  # a retrieved chunk, though the model reworded the entity's text
        else:
            dropped += 1
    return kept, repaired, dropped


def _referent(text: str, previous: str | None, asked: set[tuple[str, str]]) -> list[Value]:
    """What a sentence that opens with a pronoun and names nothing speaks of: the names the sentence before it shares
    with the question (`asked`: "Harlow Botanic Garden was founded … It holds 812 species." asked of Harlow Botanic
    Garden). Names the question does not share are left out, so "Harlan … It holds 812." stays about Harlan."""
    if previous is None or not _PRONOUN.match(text) or any(v.kind == "name" for v in values(text)):
        return []
    return [v for v in values(previous) if v.kind == "name" and (v.kind, v.norm) in asked]


def _holds(value: Value, texts: list[str]) -> bool:
    """Whether one of the texts states the value (numbers normalised, names by all their words)."""
    if value.kind == "name":
        parts = re.findall(r"[a-z0-9]+", value.norm)
        return any(set(parts) <= words(text) for text in texts)
    return any((value.kind, value.norm) in numbers(text) or ("number", value.norm) in numbers(text) for text in texts)


def _misbound(text: str, stated: list[Value], own: set[tuple[str, str]], cited: list[Citation]) -> Conflict | None:
    """A number or year taken from a quote about a near-identical name: Harlow's 1,046 species given to Harlan.

    Each value may be in some quote, yet the quote holding the number names a rival of a name the sentence states
    before the number (its subject). A rival named only after the number ("Harlow holds 812 species, beside the
    Harlan rock garden") does not make the number Harlow's.
    """
    names = [v for v in stated if v.kind == "name"]
    for value in (v for v in stated if v.kind != "name"):
        holders = [c for c in cited if _holds(value, [c.quote])]
        if not holders or any(all(_holds(n, [c.quote]) for n in names) for c in holders):
            continue
        at = text.find(value.text)
        later = {(n.kind, n.norm) for n in names if text.find(n.text) > at}
        for citation in holders:
            for name in names:
                if _holds(name, [citation.quote]):
                    continue
                rival = _conflict(name, own - later if (name.kind, name.norm) not in later else own, [citation])
                if rival is not None:
                    return rival
    return None


def _borrowed(stated: list[Value], own: set[tuple[str, str]], cited: list[Citation]) -> Conflict | None:
    """A number or year taken from a table row about something else: Cactus Hall's 18 degrees given to Tamarind House.

    The value is only in quotes lacking a name the sentence states, while another cited quote holds all its names
    and a different value of the same kind: that quote is about what the sentence speaks of, and it disagrees.
    """
    names = [v for v in stated if v.kind == "name"]
    about = [c for c in cited if names and all(_holds(n, [c.quote]) for n in names)]
    for value in (v for v in stated if v.kind != "name"):
        if not about or any(_holds(value, [c.quote]) for c in about):
            continue
        rival = _conflict(value, own, about)
        if rival is not None:
            return rival
    return None


def _scope(citation: Citation, chunks: list[RetrievedChunk]) -> str:
    """The quote, with the chunk sentence before it when it opens with a pronoun ("It holds 1,046 species")."""
    chunk = next((c for c in chunks if c.chunk_id == citation.chunk_id), None)
    if chunk is None or not _PRONOUN.match(citation.quote) or (start := chunk.text.find(citation.quote)) <= 0:
        return citation.quote
    before = [m.end() for m in _CHUNK_SENTENCE.finditer(chunk.text, 0, max(start - 1, 0))]
    return chunk.text[before[-1] if before else 0 : start + len(citation.quote)]


def _in_context(value: Value, stated: list[Value], sentences: list[str]) -> bool:
    """Whether a retrieved sentence states the value beside another value of the answer's sentence (if it has one).

    A number alone proves little: "costs 12 pounds" is not backed by "Fern Court | 12 degrees Celsius".
    """
    others = [v for v in stated if v != value]
    return any(_holds(value, [text]) and (not others or any(_holds(o, [text]) for o in others)) for text in sentences)


def _misspelt(stated: list[Value], quotes: list[str], chunks: list[RetrievedChunk]) -> dict[Value, tuple[str, str]]:
    """Stated names that misspell a quote's name (in no retrieved chunk, nearly that name), each with that name."""
    named = {(v.kind, v.norm) for quote in quotes for v in values(quote) if v.kind == "name"}
    found = {}
    for value in (v for v in stated if v.kind == "name" and not any(_holds(v, [c.text]) for c in chunks)):
        alike = [n for n in named if _misspells(value.norm, n[1])]
        if alike:
            found[value] = alike[0]
    return found


def _misspells(stated: str, name: str) -> bool:
    """Whether a name found in no chunk reads as a misspelling of a quote's name."""
    likeness = difflib.SequenceMatcher(None, stated, name).ratio()
    same_opening = stated[:MISSPELT_PREFIX] == name[:MISSPELT_PREFIX] and len(name) >= MISSPELT_PREFIX
    return likeness >= MISSPELT_LIKENESS or (same_opening and likeness >= NAME_LIKENESS)


def _conflict(value: Value, own: set[tuple[str, str]], cited: list[Citation]) -> Conflict | None:
    """The first cited quote holding another value of the value's kind that the sentence does not state."""
    for citation in cited:
        for other in values(citation.quote):
            if other.kind != value.kind or (other.kind, other.norm) in own or not _written_alike(value, other):
                continue
            if value.kind == "name" and difflib.SequenceMatcher(None, value.norm, other.norm).ratio() < NAME_LIKENESS:
                continue
            if value.kind == "number" and value.counts and other.counts and value.counts != other.counts:
                continue  # "10 people" is no rival of "1,900 metres": they count different things
            return Conflict(
                kind=value.kind, stated=value.text, found=other.text, chunk_id=citation.chunk_id, quote=citation.quote
            )
    return None


def _written_alike(value: Value, other: Value) -> bool:
    """Numbers compare with numbers written the same way: "Two gardens" is no rival of "12 pounds"."""
    return value.kind == "name" or any(ch.isdigit() for ch in value.text) == any(ch.isdigit() for ch in other.text)


def _not_in_documents(checks: list[SentenceCheck], best: float | None, floor: float | None) -> str | None:
    """Why the answer is not in the documents, or None when it is."""
    if best is None:
        return "nothing was retrieved"
    if floor is not None and best < floor:
        return f"no retrieved chunk is about the question (best score {best:.2f}, below the floor {floor:.2f})"
    if any(c.verdict in (Verdict.SUPPORTED, Verdict.CONTRADICTED) for c in checks):
        return None  # a contradiction is reported as such, with the quote it contradicts
    if any(_REFUSAL.search(c.text) for c in checks) or not checks:
        return "the model found no answer in the retrieved chunks"
    return "no sentence of the answer is supported by the retrieved chunks"


def _found_instead(question: str, chunks: list[RetrievedChunk]) -> Citation:
    """The passage closest to the question: its sentence sharing most words with it, else the best chunk's start."""
    scores = {c.chunk_id: c.score for c in chunks}
    found = sorted(cite(question, chunks), key=lambda c: -scores.get(c.chunk_id, 0.0))
    if found:
        return found[0].model_copy(update={"label": "context", "inferred": True})
    if not chunks:
        return Citation(chunk_id="", quote="", label="context", inferred=True)
    best = max(chunks, key=lambda c: c.score)
    quote = best.text.strip()
    if len(quote) > MAX_QUOTE_CHARS:
        quote = quote[:MAX_QUOTE_CHARS].rsplit(" ", 1)[0]
    return Citation(chunk_id=best.chunk_id, source=best.source, quote=quote, inferred=True, label="context")


def _merged(citations: list[Citation]) -> list[Citation]:
    """Citations with repeats (same chunk and quote) merged: explicit wins over inferred, evidence over context."""
    found: dict[tuple[str, str], Citation] = {}
    for citation in citations:
        seen = found.get((citation.chunk_id, citation.quote))
        if seen is None:
            found[citation.chunk_id, citation.quote] = citation.model_copy()
            continue
        seen.inferred = seen.inferred and citation.inferred
        if citation.label == "evidence":
            seen.label = "evidence"
    return list(found.values())
