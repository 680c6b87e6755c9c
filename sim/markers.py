"""Fault markers: `[[sim:...]]` in a request's text, parsed, stripped and counted.

Counted markers (`[[sim:429x3]]`, `[[sim:500x5#t1]]`, ...; `truncatexN` extends the contract's list) fail
the first N calls that carry that exact marker text, across all requests, then let calls through.
Counters live until `POST /sim/reset`.

A marker written with a backslash before it (`\\[[sim:poison]]`) is text, not a marker: the pipelines escape every
marker a document quotes that way (`schemas.sim.inert_markers`), so documents are data on every path. Faults meant
for such text are armed through `POST /sim/faults` instead (`armed`).

Two behaviour markers (extensions of the contract's list) act like the small real models of issue 12:
`[[sim:jsonloop]]` / `[[sim:jsonloop=SCHEMA]]` makes a structured reply (every one, or only those whose
json_schema is named SCHEMA) loop inside a JSON string until `max_tokens` cuts it (finish_reason "length");
`[[sim:nocite]]` makes text answers leave out their `[chunk_id]` citations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MARKER = re.compile(r"(?<!\\)\[\[sim:([^\[\]]*)\]\]")  # not after a backslash: escaped markers are data
_COUNTED = re.compile(r"^(429|503|500|hang|badjson|truncate)x(\d+)(?:#[^\]]*)?$")
_LATENCY = re.compile(r"^latency=(\d+(?:\.\d+)?)(ms|s)?(?:#[^\]]*)?$")
_TOOLLOOP = re.compile(r"^toolloop(?:=([A-Za-z0-9_.-]+))?(?:#[^\]]*)?$")
_POISON = re.compile(r"^poison(?:#[^\]]*)?$")
_JSONLOOP = re.compile(r"^jsonloop(?:=([A-Za-z0-9_.-]+))?(?:#[^\]]*)?$")
_NOCITE = re.compile(r"^nocite(?:#[^\]]*)?$")


@dataclass(frozen=True)
class Markers:
    """What the markers of one request ask for."""

    counted: tuple[tuple[str, str, int], ...] = ()  # (exact marker text, fault kind, N) in order of appearance
    poison: bool = False
    latency_s: float | None = None
    toolloop: bool = False
    toolloop_tool: str | None = None
    toolloop_text: str = ""  # the marker itself, copied into tool-call arguments
    jsonloop: tuple[str, ...] = ()  # schema names whose structured replies loop ("*": every schema)
    nocite: bool = False
    unknown: tuple[str, ...] = ()

    def loops(self, schema_name: str) -> bool:
        """Whether a structured reply for `schema_name` loops inside a JSON string."""
        return "*" in self.jsonloop or schema_name in self.jsonloop

    def merge(self, other: Markers) -> Markers:
        """Markers of two texts together (the first latency and toolloop win)."""
        return Markers(
            counted=self.counted + tuple(c for c in other.counted if c not in self.counted),
            poison=self.poison or other.poison,
            latency_s=self.latency_s if self.latency_s is not None else other.latency_s,
            toolloop=self.toolloop or other.toolloop,
            toolloop_tool=self.toolloop_tool if self.toolloop else other.toolloop_tool,
            toolloop_text=self.toolloop_text or other.toolloop_text,
            jsonloop=self.jsonloop + tuple(n for n in other.jsonloop if n not in self.jsonloop),
            nocite=self.nocite or other.nocite,
            unknown=self.unknown + other.unknown,
        )


def parse(text: str) -> tuple[str, Markers]:
    """The text with every marker removed, and what the markers ask for."""
    found = Markers()
    if "[[sim:" not in text:
        return text, found
    for match in MARKER.finditer(text):
        found = found.merge(_one(match.group(0), match.group(1).strip()))
    # Markers are cut out with the spaces on one side, so "a [[sim:x]] b" reads "a b".
    cleaned = re.sub(r" ?(?<!\\)\[\[sim:[^\[\]]*\]\]", "", text)
    return cleaned, found


def armed(match: str, body: str) -> Markers:
    """What a fault armed for requests containing `match` asks for: marker `body`, counted apart from written ones."""
    return _one(f"[[sim:{body}]]@{match}", body.strip())


def _one(raw: str, body: str) -> Markers:
    if m := _COUNTED.match(body):
        return Markers(counted=((raw, m.group(1), int(m.group(2))),))
    if _POISON.match(body):
        return Markers(poison=True)
    if m := _LATENCY.match(body):
        value = float(m.group(1))
        return Markers(latency_s=value / 1000 if m.group(2) == "ms" else value)
    if m := _TOOLLOOP.match(body):
        return Markers(toolloop=True, toolloop_tool=m.group(1), toolloop_text=raw)
    if m := _JSONLOOP.match(body):
        return Markers(jsonloop=(m.group(1) or "*",))
    if _NOCITE.match(body):
        return Markers(nocite=True)
    return Markers(unknown=(raw,))


class MarkerCounters:
    """How many calls carried each exact counted-marker text."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def failing(self, markers: Markers) -> str | None:
        """Count this call against each counted marker; the fault kind of the first one still failing, if any."""
        fault: str | None = None
        for text, kind, limit in markers.counted:
            seen = self._seen.get(text, 0) + 1
            self._seen[text] = seen
            if fault is None and seen <= limit:
                fault = kind
        return fault

    def reset(self) -> None:
        """Forget every count."""
        self._seen.clear()

    def snapshot(self) -> dict[str, int]:
        """Calls seen per marker text."""
        return dict(self._seen)
