"""The retrieve step's input and result."""

from __future__ import annotations

from pydantic import BaseModel

from schemas.answer import RetrievedChunk
from schemas.defaults import DEFAULT_TOP_K
from schemas.fields import ScoreGap, TopK
from schemas.inference import InferenceCall
from schemas.usage import Usage


class RetrieveRequest(InferenceCall):
    """Embed a question and query one collection."""

    question: str
    collection: str
    top_k: TopK = DEFAULT_TOP_K
    score_gap: ScoreGap | None = None


class RetrieveResult(BaseModel):
    """The chunks found, best first, and what embedding the question cost."""

    chunks: list[RetrievedChunk]
    usage: Usage
