"""Prompts of the answer pipeline: pure string building, safe inside workflow code."""

from __future__ import annotations

import re

from schemas.answer import Citation, RetrievedChunk, Summary
from schemas.inference import ChatMessage
from schemas.sim import inert_markers

# Kept as it was before the grounding check: on SmolLM2-135M, asking it to "reply only: The documents do not contain
# the answer" and to copy values exactly cut the answers stating the fact from 9 to 5 of 10 (tests_real). The check
# recognises an answer that says so in its own words.
SYSTEM = (
    "You answer questions using only the context. Every sentence of your answer ends with the id of the chunk it "
    "relies on, in square brackets, e.g. [doc.md#2]. If the context does not hold the answer, say so."
)
# Sent as `stop` with the answer: small models go on to invent the transcript's next turn ("\n\nQuestion: …").
STOP_SEQUENCES = ["\nQuestion:", "\nQ:", "\nUser:", "\nContext:"]

_CITATION = re.compile(r"\[([^\[\]\s]+)\]")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?])")


def context_block(chunks: list[RetrievedChunk]) -> str:
    """Chunks as `[chunk_id] text` lines: the format models cite from (document text is data: markers inert)."""
    return "\n".join(f"[{c.chunk_id}] {inert_markers(' '.join(c.text.split()))}" for c in chunks)


def summarize_messages(question: str, chunks: list[RetrievedChunk]) -> list[ChatMessage]:
    """Ask for a summary of the retrieved context, focused on the question."""
    return [
        ChatMessage(role="system", content="Summarize the context in a few sentences, as it bears on the question."),
        ChatMessage(role="user", content=f"Context:\n{context_block(chunks)}\n\nQuestion: {question}"),
    ]


def entities_messages(question: str, chunks: list[RetrievedChunk]) -> list[ChatMessage]:
    """Ask for the named entities of the context, each with the chunk id it was found in."""
    return [
        ChatMessage(
            role="system",
            content="List the named entities in the context: text, type, and the id of the chunk that holds it.",
        ),
        ChatMessage(role="user", content=f"Context:\n{context_block(chunks)}\n\nQuestion: {question}"),
    ]


def answer_messages(question: str, chunks: list[RetrievedChunk], summary: Summary | None) -> list[ChatMessage]:
    """Ask for the answer with citations, given the context and its summary."""
    notes = f"\n\nSummary of the context: {summary.summary}" if summary and summary.summary else ""
    return [
        ChatMessage(role="system", content=SYSTEM),
        ChatMessage(role="user", content=f"Context:\n{context_block(chunks)}{notes}\n\nQuestion: {question}"),
    ]


def citations(answer: str, chunks: list[RetrievedChunk]) -> list[Citation]:
    """The retrieved chunks the answer cites, in order of first citation, each with the text it backs."""
    by_id = {c.chunk_id: c for c in chunks}
    found: dict[str, Citation] = {}
    # Split into text and citation tokens: a citation backs the text since the previous citation.
    parts = _CITATION.split(answer)
    quote = ""
    for i, part in enumerate(parts):
        if i % 2 == 0:
            # Text after a citation starts with the punctuation that closed the cited sentence: drop it.
            quote = _SPACE_BEFORE_PUNCT.sub(r"\1", part).lstrip(" .,;:!?").rstrip() or quote
        elif part in by_id and part not in found:
            found[part] = Citation(chunk_id=part, source=by_id[part].source, quote=quote)
    return list(found.values())
