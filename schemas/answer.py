"""AnswerQuestion's request, intermediate and final shapes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from schemas.defaults import DEFAULT_COLLECTION, DEFAULT_TOP_K
from schemas.fields import CollectionName, ScoreGap, TokenCount, TopK
from schemas.grounding import Grounding
from schemas.request import RequestModel
from schemas.text import Question
from schemas.usage import Usage


class AnswerRequest(RequestModel):
    """`POST /v1/answers` body and the workflow's input."""

    question: Question
    collection: CollectionName = DEFAULT_COLLECTION
    top_k: TopK = DEFAULT_TOP_K
    token_limit: TokenCount | None = None
    step_deadline_s: float | None = Field(
        None, gt=0, le=86_400, description="How long a step keeps retrying throttled calls (default 600 s)."
    )
    score_gap: ScoreGap | None = Field(
        None,
        description="Drop retrieved chunks scoring more than this below the best one (cosine similarity); "
        "default GENAI_FLOW_SCORE_GAP (unset: keep all top_k; 0.25 on the local backend).",
    )


class RetrievedChunk(BaseModel):
    """A chunk the vector index returned for the question."""

    chunk_id: str
    text: str
    source: str = ""
    score: float = 0.0


class Entity(BaseModel):
    """A named thing found in the retrieved chunks."""

    text: str
    type: str
    evidence_chunk_id: str


class EntityList(BaseModel):
    """Structured output of extract_entities."""

    entities: list[Entity] = Field(default_factory=list)


class Summary(BaseModel):
    """Structured output of summarize."""

    summary: str
    key_points: list[str] = Field(default_factory=list)


class Citation(BaseModel):
    """A chunk the answer relies on; `quote` is a verbatim substring of the chunk's text."""

    chunk_id: str
    source: str = ""
    quote: str = ""
    inferred: bool = Field(
        False, description="True when the model named no chunk for the text: attributed by word overlap instead."
    )
    label: Literal["evidence", "context"] = Field(
        "evidence",
        description="evidence: a supported sentence rests on it; context: the passage the question points at, "
        "or what was found instead of an answer (not evidence for any sentence).",
    )


class StepUsage(BaseModel):
    """Usage and cost of one step."""

    step: str
    usage: Usage
    cost_usd: float = 0.0
    duration_ms: float = 0.0


class AnswerResult(BaseModel):
    """AnswerQuestion's result."""

    question: str
    answer: str
    citations: list[Citation] = Field(default_factory=list)
    truncated: bool = Field(False, description="The answer was cut at the step's max_tokens bound.")
    grounding: Grounding | None = Field(None, description="Each sentence checked against its sources.")
    entities: list[Entity] = Field(default_factory=list)
    summary: Summary | None = None
    steps: list[StepUsage] = Field(default_factory=list)
    usage: Usage
    cost_usd: float = 0.0
    duration_ms: float = 0.0

