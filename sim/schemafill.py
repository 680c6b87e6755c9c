"""Fill a JSON schema deterministically from a prompt: walk the schema, pick values by field-name heuristics.

Handles objects, arrays, strings, numbers, booleans, enums, const, anyOf/oneOf/allOf and local `$ref`s
(`#/$defs/...` as pydantic emits them). Summary-like strings get an extractive summary; arrays of
entity-like objects (fields such as text/type/evidence) get the entities found in the text, with the
chunk id as evidence when the prompt labels its chunks. The result is checked with `jsonschema`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from jsonschema import validators

from sim.entities import Entity, extract, label_for_enum
from sim.textgen import Source, answer, answer_sentences, content_words, keywords, summarize, summary_sentences, title

_ENTITY_TEXT = {"text", "name", "entity", "mention", "value", "surface", "span", "term", "word"}
_ENTITY_KIND = {"type", "label", "category", "kind", "class", "tag"}
_CHUNKISH = {"chunk", "evidence", "source", "citation", "ref", "reference", "doc", "document", "passage"}
_QUOTEISH = {"quote", "sentence", "snippet", "excerpt", "context", "passage", "evidence"}
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
_KEYWORDS = {"keyword", "keywords", "tag", "tags", "topic", "topics", "term", "terms", "concept", "concepts"}
_SCORE = {"confidence", "score", "probability", "relevance", "certainty", "likelihood"}
_MAX_DEPTH = 8


class SchemaUnsatisfiable(ValueError):
    """The simulator could not produce a value valid against the schema (e.g. an exotic pattern)."""


@dataclass(frozen=True)
class _Item:
    """What an array element is about: an entity, or a sentence with its chunk."""

    entity: Entity | None = None
    sentence: str | None = None
    chunk_id: str | None = None
    index: int = 0


def words_of(name: str) -> set[str]:
    """A field name's lowercase words (snake_case and camelCase split, plus the whole name)."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name).replace("_", " ").replace("-", " ")
    return {w.lower() for w in spaced.split()} | {name.lower()}


def fill(schema: dict[str, Any], source: Source) -> Any:
    """A value valid against schema, built from source; SchemaUnsatisfiable when that cannot be done."""
    value = _Filler(schema, source).value(schema, "", 0, _Item())
    validator_cls = validators.validator_for(schema)
    error = next(iter(validator_cls(schema).iter_errors(value)), None)
    if error is not None:
        where = list(error.absolute_path)
        raise SchemaUnsatisfiable(f"simulator cannot satisfy the schema at {where}: {error.message}")
    return value


def is_valid(schema: dict[str, Any], value: Any) -> bool:
    """Whether value validates against schema."""
    return bool(validators.validator_for(schema)(schema).is_valid(value))


class _Filler:
    def __init__(self, root: dict[str, Any], source: Source) -> None:
        self.root = root
        self.source = source
        self._entities: list[Entity] | None = None

    @property
    def entities(self) -> list[Entity]:
        if self._entities is None:
            self._entities = extract(self.source)
        return self._entities

    def resolve(self, schema: Any) -> dict[str, Any]:
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema and seen < 32:
            target: Any = self.root
            for part in str(schema["$ref"]).lstrip("#/").split("/"):
                target = target.get(part.replace("~1", "/").replace("~0", "~"), {}) if part else target
            extra = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **extra}
            seen += 1
        return schema if isinstance(schema, dict) else {}

    def value(self, schema: Any, name: str, depth: int, item: _Item) -> Any:
        schema = self.resolve(schema)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return self.enum(list(schema["enum"]), name, item)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                options = [self.resolve(o) for o in schema[key]]
                real = [o for o in options if o.get("type") != "null"] or options
                merged = {k: v for k, v in schema.items() if k != key}
                return self.value({**merged, **real[0]}, name, depth, item)
        if "allOf" in schema:
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                part = self.resolve(part)
                props = {**merged.get("properties", {}), **part.get("properties", {})}
                required = [*merged.get("required", []), *part.get("required", [])]
                merged = {**merged, **part, "properties": props, "required": required}
            return self.value(merged, name, depth, item)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None:
            kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
        if kind == "object":
            return self.object(schema, depth, item)
        if kind == "array":
            return self.array(schema, name, depth)
        if kind in ("number", "integer"):
            return self.number(schema, name, kind == "integer", item)
        if kind == "boolean":
            return self.boolean(name)
        if kind == "null":
            return None
        return self.string(schema, name, item)

    def object(self, schema: dict[str, Any], depth: int, item: _Item) -> dict[str, Any]:
        props: dict[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", []))
        out: dict[str, Any] = {}
        for pname, sub in props.items():
            if depth < _MAX_DEPTH or pname in required:
                out[pname] = self.value(sub, pname, depth + 1, item)
        extra = schema.get("additionalProperties")
        if not props and isinstance(extra, dict) and schema.get("minProperties", 0) > 0:
            for i in range(int(schema["minProperties"])):
                out[f"key{i + 1}"] = self.value(extra, f"key{i + 1}", depth + 1, item)
        return out

    def array(self, schema: dict[str, Any], name: str, depth: int) -> list[Any]:
        items = self.resolve(schema.get("items", {}))
        low = int(schema.get("minItems", 0))
        high = int(schema.get("maxItems", 50))
        props = {p: words_of(p) for p in items.get("properties", {})}
        all_words = set().union(*props.values()) if props else set()
        names = words_of(name)
        elements: list[_Item]
        if props and all_words & _ENTITY_TEXT and all_words & (_ENTITY_KIND | _CHUNKISH):
            elements = [_Item(entity=e, chunk_id=e.chunk_id, sentence=e.sentence) for e in self.entities]
        elif props and all_words & (_CHUNKISH | _QUOTEISH):
            picked = answer_sentences(self.source, self.source.question or "", 3) if self.source.question else []
            picked = picked or summary_sentences(self.source, 3)
            elements = [_Item(sentence=s, chunk_id=c) for s, c in picked]
        elif items.get("type") == "string" and "entities" in names | {name.lower()}:
            elements = [_Item(entity=e) for e in self.entities]
        else:
            elements = [_Item(sentence=s, chunk_id=c) for s, c in summary_sentences(self.source, 3)]
        if depth >= _MAX_DEPTH:
            elements = elements[:low]
        count = max(low, min(high, len(elements) or (1 if low or depth < 2 else 0)))
        out: list[Any] = []
        for i in range(count):
            element = elements[i] if i < len(elements) else _Item(index=i)
            value = self.array_element(items, name, depth, element, i)
            if schema.get("uniqueItems") and value in out:
                value = f"{value} ({i + 1})" if isinstance(value, str) else value
            out.append(value)
        return out

    def array_element(self, items: dict[str, Any], name: str, depth: int, element: _Item, i: int) -> Any:
        if items.get("type") == "string" and "enum" not in items and "format" not in items:
            names = words_of(name)
            if names & _KEYWORDS:
                words = keywords(self.source, i + 1)
                return self.shape(items, words[i] if i < len(words) else f"term{i + 1}")
            if element.entity is not None:
                return self.shape(items, element.entity.text)
            if names & _CHUNKISH and element.chunk_id:
                return element.chunk_id
            if element.sentence:
                return self.shape(items, element.sentence)
        return self.value(items, name, depth + 1, _Item(element.entity, element.sentence, element.chunk_id, i))

    def enum(self, allowed: list[Any], name: str, item: _Item) -> Any:
        names = words_of(name)
        if item.entity is not None and names & _ENTITY_KIND:
            return label_for_enum(item.entity.type, allowed)
        if names & {"sentiment", "tone", "mood"} and "neutral" in allowed:
            return "neutral"
        text = " ".join(content_words(self.source.body)).lower()
        # Prefer a value the text mentions (e.g. a sentiment word), else the first.
        return next((v for v in allowed if isinstance(v, str) and v.lower() in text.split()), allowed[0])

    def string(self, schema: dict[str, Any], name: str, item: _Item) -> str:
        return self.shape(schema, self.text_for(schema, words_of(name), item))

    def text_for(self, schema: dict[str, Any], names: set[str], item: _Item) -> str:
        fmt = schema.get("format")
        if fmt in ("date", "date-time", "time", "email", "uri", "url", "uuid"):
            return self.formatted(str(fmt), names)
        src = self.source
        if item.entity is not None:
            ent = item.entity
            if names & _ENTITY_TEXT:
                return ent.text
            if names & _ENTITY_KIND:
                return ent.type
            if names & _CHUNKISH:
                return ent.chunk_id or ent.sentence
            if names & (_QUOTEISH | _SUMMARY | _REASON):
                return ent.sentence
            return ent.text
        if item.sentence is not None:
            if names & {"chunk", "source", "ref", "reference", "doc", "document", "citation", "id"}:
                return item.chunk_id or item.sentence
            if names & (_QUOTEISH | _ENTITY_TEXT | _POINTS | _SUMMARY):
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
        if names & (_REASON | _QUOTEISH):
            picked = answer_sentences(src, src.question, 1) if src.question else summary_sentences(src, 1)
            return picked[0][0] if picked else summarize(src)
        if names & {"language", "lang", "locale"}:
            return "en"
        if names & {"sentiment", "tone", "mood"}:
            return "neutral"
        formats = ("email", "url", "link", "website", "uri", "date", "time", "when", "uuid")
        if names & set(formats):
            return self.formatted(next(k for k in formats if k in names), names)
        if names & _KEYWORDS:
            words = keywords(src, 1)
            return words[0] if words else "general"
        if names & {"id", "identifier", "key"}:
            return "id-" + hashlib.sha256(src.text.encode()).hexdigest()[:8] + f"-{item.index + 1}"
        return summarize(src, 1) or src.body.strip()[:200]

    def formatted(self, fmt: str, names: set[str]) -> str:
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

    def number(self, schema: dict[str, Any], name: str, integer: bool, item: _Item) -> float | int:
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
