"""The chat step's grounding input and its checked answer (the answer pipeline's generate_answer step)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from schemas.answer import Citation, Entity, RetrievedChunk
from schemas.grounding import Grounding


class GroundingInput(BaseModel):
    """What the chat step needs to check an answer: the question, the retrieved chunks, the entities found."""

    question: str
    chunks: list[RetrievedChunk] = Field(default_factory=list)
    entities: list[Entity] = Field(default_factory=list)


class GroundedAnswer(BaseModel):
    """The checked answer: its text (trimmed, or replaced when not in the documents), citations and entities."""

    answer: str
    citations: list[Citation] = Field(default_factory=list)
    entities: list[Entity] = Field(default_factory=list)
    grounding: Grounding
