"""The retrieve step's input and result."""

from __future__ import annotations

from pydantic import BaseModel, Field

from schemas.answer import RetrievedChunk
from schemas.inference import InferenceCall
from schemas.usage import Usage


class RetrieveRequest(InferenceCall):
    """Embed a question and query one collection."""

    question: str
    collection: str
    top_k: int = Field(4, ge=1, le=50)
    score_gap: float | None = Field(None, ge=0, le=2)


class RetrieveResult(BaseModel):
    """The chunks found, best first, and what embedding the question cost."""

    chunks: list[RetrievedChunk]
    usage: Usage
