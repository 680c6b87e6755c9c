"""Values for single schema fields, chosen from the field's name and the prompt's text.

Summary-like strings get an extractive summary, answer-like ones the extractive answer, entity fields
(text/type/evidence...) the entity an array element stands for, numbers a figure from the text
clamped into the schema's bounds, formats (date, email, uri, uuid) a value of that format.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from sim.entities import Entity, extract, label_for_enum
from sim.textgen import Source, answer, answer_sentences, content_words, keywords, summarize, summary_sentences, title

ENTITY_TEXT = {"text", "name", "entity", "mention", "value", "surface", "span", "term", "word"}
ENTITY_KIND = {"type", "label", "category", "kind", "class", "tag"}
CHUNKISH = {"chunk", "evidence", "source", "citation", "ref", "reference", "doc", "document", "passage"}
QUOTEISH = {"quote", "sentence", "snippet", "excerpt", "context", "passage", "evidence"}
_SUMMARY = {"summary", "abstract", "overview", "synopsis", "tldr", "gist", "digest", "description"}
_ANSWER = {"answer", "response", "reply", "output", "result", "conclusion", "completion", "content", "body", "message"}
_TITLE = {"title", "headline", "heading", "topic", "subject", "name"}
_QUESTION = {"question", "query", "task", "prompt", "request", "q", "search", "instruction", "goal", "input"}
_REASON = {
    "reason",
    "rationale",
    "reasoning",
    "explanation",
    "justification",
    "why",
    "thought",
    "analysis",
    "note",
    "notes",
    "comment",
}
_POINTS = {
    "point",
    "points",
    "bullet",
    "bullets",
    "highlight",
    "highlights",
    "takeaway",
    "takeaways",
    "fact",
    "facts",
    "finding",
    "findings",
    "sentence",
    "sentences",
    "step",
    "steps",
    "item",
    "items",
}
KEYWORDS = {"keyword", "keywords", "tag", "tags", "topic", "topics", "term", "terms", "concept", "concepts"}
_SCORE = {"confidence", "score", "probability", "relevance", "certainty", "likelihood"}


@dataclass(frozen=True)
class Item:
    """What an array element is about: an entity, or a sentence with its chunk."""

    entity: Entity | None = None
    sentence: str | None = None
    chunk_id: str | None = None
    index: int = 0


def words_of(name: str) -> set[str]:
    """A field name's lowercase words (snake_case and camelCase split, plus the whole name)."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name).replace("_", " ").replace("-", " ")
    return {w.lower() for w in spaced.split()} | {name.lower()}


class FieldText:
    """Scalar values for fields, from one prompt (entities are extracted once, on first use)."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self._entities: list[Entity] | None = None

    @property
    def entities(self) -> list[Entity]:
        """The entities of the prompt, in document order."""
        if self._entities is None:
            self._entities = extract(self.source)
        return self._entities

    def enum(self, allowed: list[Any], name: str, item: Item) -> Any:
        """The enum value for a field: the entity's type mapped onto it, one the text mentions, else the first."""
        names = words_of(name)
        if item.entity is not None and names & ENTITY_KIND:
            return label_for_enum(item.entity.type, allowed)
        if names & {"sentiment", "tone", "mood"} and "neutral" in allowed:
            return "neutral"
        text = " ".join(content_words(self.source.body)).lower()
        # Prefer a value the text mentions (e.g. a sentiment word), else the first.
        return next((v for v in allowed if isinstance(v, str) and v.lower() in text.split()), allowed[0])

    def string(self, schema: dict[str, Any], name: str, item: Item) -> str:
        """A string for a field, fitted to its length and pattern constraints."""
        return self.shape(schema, self.text_for(schema, words_of(name), item))

    def text_for(self, schema: dict[str, Any], names: set[str], item: Item) -> str:
        """The raw text for a field, chosen by its format and the words of its name."""
        fmt = schema.get("format")
        if fmt in ("date", "date-time", "time", "email", "uri", "url", "uuid"):
            return self.formatted(str(fmt), names)
        src = self.source
        if item.entity is not None:
            ent = item.entity
            if names & ENTITY_TEXT:
                return ent.text
            if names & ENTITY_KIND:
                return ent.type
            if names & CHUNKISH:
                return ent.chunk_id or ent.sentence
            if names & (QUOTEISH | _SUMMARY | _REASON):
                return ent.sentence
            return ent.text
        if item.sentence is not None:
            if names & {"chunk", "source", "ref", "reference", "doc", "document", "citation", "id"}:
                return item.chunk_id or item.sentence
            if names & (QUOTEISH | ENTITY_TEXT | _POINTS | _SUMMARY):
                return item.sentence
        if names & {"chunk", "chunk_id", "doc_id", "source_id"}:
            return src.chunks[0].chunk_id if src.chunks else "input"
        if names & _SUMMARY:
            return summarize(src)
        if names & _ANSWER:
            return answer(src)
        if names & _QUESTION:
            return src.question or title(src, 12)
        if names & _TITLE:
            return title(src)
        if names & (_REASON | QUOTEISH):
            picked = answer_sentences(src, src.question, 1) if src.question else summary_sentences(src, 1)
            return picked[0][0] if picked else summarize(src)
        if names & {"language", "lang", "locale"}:
            return "en"
        if names & {"sentiment", "tone", "mood"}:
            return "neutral"
        formats = ("email", "url", "link", "website", "uri", "date", "time", "when", "uuid")
        if names & set(formats):
            return self.formatted(next(k for k in formats if k in names), names)
        if names & KEYWORDS:
            words = keywords(src, 1)
            return words[0] if words else "general"
        if names & {"id", "identifier", "key"}:
            return "id-" + hashlib.sha256(src.text.encode()).hexdigest()[:8] + f"-{item.index + 1}"
        return summarize(src, 1) or src.body.strip()[:200]

    def formatted(self, fmt: str, names: set[str]) -> str:
        """A value of a string format: one found in the text, else a fixed example."""
        types = {"email": "EMAIL", "uri": "URL", "url": "URL", "link": "URL", "website": "URL"}
        wanted = types.get(fmt)
        for ent in self.entities:
            if wanted and ent.type == wanted:
                return ent.text
            if fmt == "date" and ent.type == "DATE" and re.fullmatch(r"\d{4}-\d{2}-\d{2}", ent.text):
                return ent.text
        digest = hashlib.sha256(self.source.text.encode()).hexdigest()
        return {
            "email": "contact@example.com",
            "uri": "https://example.com/",
            "url": "https://example.com/",
            "link": "https://example.com/",
            "website": "https://example.com/",
            "date": "1970-01-01",
            "when": "1970-01-01",
            "date-time": "1970-01-01T00:00:00Z",
            "time": "00:00:00Z",
            "uuid": f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-8{digest[17:20]}-{digest[20:32]}",
        }[fmt]

    def shape(self, schema: dict[str, Any], text: str) -> str:
        """Fit text to minLength / maxLength / pattern."""
        high = schema.get("maxLength")
        low = int(schema.get("minLength", 0))
        if high is not None and len(text) > int(high):
            cut = text[: int(high)]
            text = cut.rsplit(" ", 1)[0] if " " in cut and len(cut.rsplit(" ", 1)[0]) >= low else cut
        if len(text) < low:
            filler = (text + " " + self.source.body).strip() or "x"
            while len(filler) < low:
                filler = filler + " " + filler
            text = filler[: int(high)] if high is not None else filler[: max(low, len(text))]
            text = text if len(text) >= low else text.ljust(low, ".")
        pattern = schema.get("pattern")
        if pattern and not re.search(pattern, text):
            candidates = [text, *re.findall(r"\S+", self.source.body), *(e.text for e in self.entities)]
            text = next((c for c in candidates if re.search(pattern, c)), text)
        return text

    def number(self, schema: dict[str, Any], name: str, integer: bool, item: Item) -> float | int:
        """A number for a field: a score, an offset, a count, or the first figure in the text, within bounds."""
        names = words_of(name)
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        value: float
        if names & _SCORE:
            value = 0.9 if high is None or float(high) >= 1 else float(high)
        elif names & {"start", "offset", "begin", "position"} and item.entity is not None:
            value = item.entity.start
        elif names & {"end", "stop"} and item.entity is not None:
            value = item.entity.start + len(item.entity.text)
        elif names & {"count", "total", "number", "num", "n", "quantity"}:
            value = len(self.entities)
        elif names & {"index", "rank", "position"}:
            value = item.index + 1
        else:
            found = re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])", self.source.body)
            value = float(found[0]) if found else 0.0
        return _bounded(schema, value, integer)

    def boolean(self, name: str) -> bool:
        """True when the text supports what the field name asks (answerable, relevant...) or mentions its words."""
        names = words_of(name) - {"is", "has", "can", "should", "needs", "requires", "was", "did"}
        src = self.source
        if names & {"answerable", "relevant", "found", "supported", "grounded", "valid", "success", "complete"}:
            if src.question:
                return bool(set(content_words(src.question)) & set(content_words(src.body)))
            return bool(src.body.strip())
        body = set(content_words(src.body))
        return bool({w.lower() for w in names} & body)


def _bounded(schema: dict[str, Any], value: float, integer: bool) -> float | int:
    """Clamp value into the schema's bounds, honouring exclusive bounds and multipleOf."""
    step = 1.0 if integer else 1e-6
    if "minimum" in schema:
        value = max(value, float(schema["minimum"]))
    if "exclusiveMinimum" in schema:
        value = max(value, float(schema["exclusiveMinimum"]) + step)
    if "maximum" in schema:
        value = min(value, float(schema["maximum"]))
    if "exclusiveMaximum" in schema:
        value = min(value, float(schema["exclusiveMaximum"]) - step)
    if "multipleOf" in schema:
        unit = float(schema["multipleOf"])
        value = round(value / unit) * unit
    return round(value) if integer else value
