"""Entities found by patterns (emails, URLs, dates, money, percentages, numbers) and capitalised spans."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sim.textgen import STOPWORDS, Source, sentences, word_set

_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("EMAIL", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")),
    ("URL", re.compile(r"\bhttps?://[^\s)\]>\"']+")),
    (
        "DATE",
        re.compile(
            rf"\b\d{{4}}-\d{{2}}-\d{{2}}\b|\b\d{{1,2}} (?:{_MONTHS}) \d{{4}}\b"
            rf"|\b(?:{_MONTHS}) \d{{1,2}}, \d{{4}}\b|\b(?:{_MONTHS}) \d{{4}}\b"
        ),
    ),
    ("MONEY", re.compile(r"[$€£]\s?\d[\d,]*(?:\.\d+)?(?:\s(?:million|billion|thousand))?")),
    ("PERCENT", re.compile(r"\b\d+(?:\.\d+)?\s?%")),
    ("NUMBER", re.compile(r"\b\d[\d,]*(?:\.\d+)?\b")),
]
_CAPITALISED = re.compile(
    r"\b(?:(?:Mr|Mrs|Ms|Dr|Prof)\.?\s+)?[A-Z][\w&'-]*(?:\s+(?:of|de|von|van)\s+[A-Z][\w&'-]*|\s+[A-Z][\w&'-]*)*"
)
_ORG_WORDS = word_set(
    "inc inc. ltd ltd. llc corp corp. corporation company co gmbh ag sa plc university institute bank group "
    "foundation agency association labs systems technologies"
)
_PLACE_WORDS = word_set(
    "city river mountain street avenue county state republic kingdom island lake tower gate bridge park square "
    "palace museum cathedral station airport hall"
)
_OPENERS = word_set(
    "contact see visit call email use read note ask send please today yesterday tomorrow however meanwhile finally "
    "first next then after before since during although according unlike like under per via welcome thanks dear"
)
_TITLE_WORDS = word_set("mr mr. mrs mrs. ms ms. dr dr. prof prof.")
_PERSON_TITLES = ("Mr ", "Mrs ", "Ms ", "Dr ", "Prof ", "Mr. ", "Mrs. ", "Ms. ", "Dr. ", "Prof. ")


@dataclass(frozen=True)
class Entity:
    """A mention: its text, a type label, the chunk it came from (if labelled) and its sentence."""

    text: str
    type: str
    chunk_id: str | None
    sentence: str
    start: int


def extract(source: Source, limit: int = 20) -> list[Entity]:
    """Distinct entities in document order, at most `limit`."""
    found: list[Entity] = []
    seen: set[str] = set()
    parts: list[tuple[str, str | None]] = (
        [(c.text, c.chunk_id) for c in source.chunks] if source.chunks else [(source.text, None)]
    )
    for text, chunk_id in parts:
        for entity in _in_text(text, chunk_id):
            if entity.text.lower() not in seen:
                seen.add(entity.text.lower())
                found.append(entity)
    found.sort(key=lambda e: (_part_index(parts, e.chunk_id), e.start))
    return found[:limit]


def _part_index(parts: list[tuple[str, str | None]], chunk_id: str | None) -> int:
    return next((i for i, (_, cid) in enumerate(parts) if cid == chunk_id), 0)


def _in_text(text: str, chunk_id: str | None) -> list[Entity]:
    taken: list[tuple[int, int]] = []
    out: list[Entity] = []

    def free(start: int, end: int) -> bool:
        return all(end <= a or start >= b for a, b in taken)

    for label, pattern in _PATTERNS:
        for m in pattern.finditer(text):
            if free(m.start(), m.end()):
                taken.append((m.start(), m.end()))
                out.append(Entity(m.group(0).strip(), label, chunk_id, _sentence_of(text, m.start()), m.start()))
    for m in _CAPITALISED.finditer(text):
        span = _trim(m.group(0))
        start = m.start() + m.group(0).find(span) if span else m.start()
        opener = not text[:start].rstrip().endswith(tuple("abcdefghijklmnopqrstuvwxyz0123456789,;:("))
        if span and opener:
            span, start = _drop_opener(span, start, text)
        if span and free(start, start + len(span)):
            taken.append((start, start + len(span)))
            out.append(
                Entity(span, _label(span, text[max(0, start - 5) : start]), chunk_id, _sentence_of(text, start), start)
            )
    return sorted(out, key=lambda e: e.start)


def _trim(span: str) -> str:
    """Drop leading stopwords ("The", "In") from a capitalised span; single stopwords are no entity."""
    words = span.split()
    while words and words[0].lower() in STOPWORDS:
        words = words[1:]
    return " ".join(words) if words and len("".join(words)) > 1 else ""


def _drop_opener(span: str, start: int, text: str) -> tuple[str, int]:
    """A sentence's first word is capitalised anyway: keep it only if the text capitalises it mid-sentence too."""
    first, _, rest = span.partition(" ")
    lowered = first.lower()
    if lowered in _TITLE_WORDS or re.search(rf"[a-z0-9,;:]\s+{re.escape(first)}\b", text):
        return span, start
    if not rest:
        return "", start  # a lone opener ("Revenue grew ...") is just a word
    if lowered in STOPWORDS or lowered in _OPENERS or re.search(rf"\b{re.escape(lowered)}\b", text):
        return rest, start + len(first) + 1  # "Contact Acme Corp" -> "Acme Corp"
    return span, start


def _label(span: str, before: str) -> str:
    words = span.lower().replace(",", "").split()
    if span.startswith(_PERSON_TITLES) or before.endswith(_PERSON_TITLES):
        return "PERSON"
    if words[-1] in _ORG_WORDS or words[0] in _ORG_WORDS:
        return "ORG"
    if any(w in _PLACE_WORDS for w in words):
        return "LOCATION"
    if len(words) in (2, 3) and all(w.isalpha() for w in words):
        return "PERSON"
    return "MISC"


def _sentence_of(text: str, offset: int) -> str:
    pos = 0
    for sent in sentences(text):
        found = text.find(sent[:20], pos)
        if found == -1:
            continue
        if found <= offset < found + len(sent) + 1:
            return sent
        pos = found
    return sentences(text)[0] if text.strip() else ""


ENUM_SYNONYMS: dict[str, tuple[str, ...]] = {
    "PERSON": ("person", "people", "per", "human", "individual", "name"),
    "ORG": ("org", "organization", "organisation", "company", "institution", "business"),
    "LOCATION": ("location", "loc", "place", "gpe", "city", "country"),
    "DATE": ("date", "time", "datetime"),
    "MONEY": ("money", "amount", "currency", "price"),
    "PERCENT": ("percent", "percentage", "number", "quantity"),
    "NUMBER": ("number", "quantity", "cardinal", "count"),
    "EMAIL": ("email", "contact"),
    "URL": ("url", "link", "website"),
    "MISC": ("misc", "other", "concept", "thing", "entity"),
}


def label_for_enum(label: str, allowed: list[object]) -> object:
    """Map an entity label onto one of a schema enum's values (synonyms, then other/misc, then the first)."""
    lowered = {str(v).lower(): v for v in allowed}
    for name in (label.lower(), *ENUM_SYNONYMS.get(label, ())):
        if name in lowered:
            return lowered[name]
    for name in ("other", "misc", "miscellaneous", "unknown"):
        if name in lowered:
            return lowered[name]
    return allowed[0]
