"""Fill a JSON schema deterministically from a prompt: walk the schema, pick values by field-name heuristics.

Handles objects, arrays, strings, numbers, booleans, enums, const, anyOf/oneOf/allOf and local `$ref`s
(`#/$defs/...` as pydantic emits them). Summary-like strings get an extractive summary; arrays of
entity-like objects (fields such as text/type/evidence) get the entities found in the text, with the
chunk id as evidence when the prompt labels its chunks. The result is checked with `jsonschema`.
"""

from __future__ import annotations

from typing import Any

from jsonschema import validators

from sim.fieldtext import CHUNKISH, ENTITY_KIND, ENTITY_TEXT, KEYWORDS, QUOTEISH, FieldText, Item, words_of
from sim.textgen import Source, answer_sentences, keywords, summary_sentences

_MAX_DEPTH = 8


class SchemaUnsatisfiable(ValueError):
    """The simulator could not produce a value valid against the schema (e.g. an exotic pattern)."""


def fill(schema: dict[str, Any], source: Source) -> Any:
    """A value valid against schema, built from source; SchemaUnsatisfiable when that cannot be done."""
    value = _Filler(schema, source).value(schema, "", 0, Item())
    validator_cls = validators.validator_for(schema)
    error = next(iter(validator_cls(schema).iter_errors(value)), None)
    if error is not None:
        where = list(error.absolute_path)
        raise SchemaUnsatisfiable(f"simulator cannot satisfy the schema at {where}: {error.message}")
    return value


def is_valid(schema: dict[str, Any], value: Any) -> bool:
    """Whether value validates against schema."""
    return bool(validators.validator_for(schema)(schema).is_valid(value))


class _Filler(FieldText):
    """Walks a schema (objects, arrays, combinators, $refs) and asks FieldText for the leaves."""

    def __init__(self, root: dict[str, Any], source: Source) -> None:
        super().__init__(source)
        self.root = root

    def resolve(self, schema: Any) -> dict[str, Any]:
        """Follow local $refs (JSON pointers into the root schema); sibling keywords override."""
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema and seen < 32:
            target: Any = self.root
            for part in str(schema["$ref"]).lstrip("#/").split("/"):
                target = target.get(part.replace("~1", "/").replace("~0", "~"), {}) if part else target
            extra = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **extra}
            seen += 1
        return schema if isinstance(schema, dict) else {}

    def value(self, schema: Any, name: str, depth: int, item: Item) -> Any:
        """A value for any (sub)schema: const, enum, combinators, then by type."""
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

    def object(self, schema: dict[str, Any], depth: int, item: Item) -> dict[str, Any]:
        """Every property filled (only required ones past the depth limit)."""
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
        """One element per entity, cited sentence or summary sentence, within minItems/maxItems."""
        items = self.resolve(schema.get("items", {}))
        low = int(schema.get("minItems", 0))
        high = int(schema.get("maxItems", 50))
        props = {p: words_of(p) for p in items.get("properties", {})}
        all_words = set().union(*props.values()) if props else set()
        names = words_of(name)
        elements: list[Item]
        if props and all_words & ENTITY_TEXT and all_words & (ENTITY_KIND | CHUNKISH):
            elements = [Item(entity=e, chunk_id=e.chunk_id, sentence=e.sentence) for e in self.entities]
        elif props and all_words & (CHUNKISH | QUOTEISH):
            picked = answer_sentences(self.source, self.source.question or "", 3) if self.source.question else []
            picked = picked or summary_sentences(self.source, 3)
            elements = [Item(sentence=s, chunk_id=c) for s, c in picked]
        elif items.get("type") == "string" and "entities" in names | {name.lower()}:
            elements = [Item(entity=e) for e in self.entities]
        else:
            elements = [Item(sentence=s, chunk_id=c) for s, c in summary_sentences(self.source, 3)]
        if depth >= _MAX_DEPTH:
            elements = elements[:low]
        count = max(low, min(high, len(elements) or (1 if low or depth < 2 else 0)))
        out: list[Any] = []
        for i in range(count):
            element = elements[i] if i < len(elements) else Item(index=i)
            value = self.array_element(items, name, depth, element, i)
            if schema.get("uniqueItems") and value in out:
                value = f"{value} ({i + 1})" if isinstance(value, str) else value
            out.append(value)
        return out

    def array_element(self, items: dict[str, Any], name: str, depth: int, element: Item, i: int) -> Any:
        """One array element: plain strings directly, anything else through value()."""
        if items.get("type") == "string" and "enum" not in items and "format" not in items:
            names = words_of(name)
            if names & KEYWORDS:
                words = keywords(self.source, i + 1)
                return self.shape(items, words[i] if i < len(words) else f"term{i + 1}")
            if element.entity is not None:
                return self.shape(items, element.entity.text)
            if names & CHUNKISH and element.chunk_id:
                return element.chunk_id
            if element.sentence:
                return self.shape(items, element.sentence)
        return self.value(items, name, depth + 1, Item(element.entity, element.sentence, element.chunk_id, i))
