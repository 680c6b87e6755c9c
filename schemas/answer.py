"""AnswerQuestion's request, intermediate and final shapes."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from schemas.usage import Usage

# Bounds on structured outputs. A server that enforces json_schema with a grammar (llama.cpp, vLLM, the simulator)
# must close each string and array within them, so a small model that loops inside a JSON string ends its reply
# instead of running to max_tokens; replies over them fail validation like any other schema error. Their worst
# case (every string and list full) is what the local backend's max_tokens bounds are sized for.
ENTITY_TEXT_CHARS = 80
ENTITY_TYPE_CHARS = 30
CHUNK_ID_CHARS = 120
MAX_ENTITIES = 10
SUMMARY_CHARS = 600
KEY_POINT_CHARS = 160
MAX_KEY_POINTS = 5


class AnswerRequest(BaseModel):
    """`POST /v1/answers` body and the workflow's input."""

    question: str = Field(min_length=1, max_length=8000)
    collection: str = Field("docs", min_length=3, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]$")
    top_k: int = Field(4, ge=1, le=50)
    token_limit: int | None = Field(None, ge=1)
    step_deadline_s: float | None = Field(
        None, gt=0, le=86_400, description="How long a step keeps retrying throttled calls (default 600 s)."
    )


class RetrievedChunk(BaseModel):
    """A chunk the vector index returned for the question."""

    chunk_id: str
    text: str
    source: str = ""
    score: float = 0.0


class Entity(BaseModel):
    """A named thing found in the retrieved chunks."""

    text: str = Field(max_length=ENTITY_TEXT_CHARS)
    type: str = Field(max_length=ENTITY_TYPE_CHARS)
    evidence_chunk_id: str = Field(max_length=CHUNK_ID_CHARS)


class EntityList(BaseModel):
    """Structured output of extract_entities."""

    entities: list[Entity] = Field(default_factory=list, max_length=MAX_ENTITIES)


class Summary(BaseModel):
    """Structured output of summarize."""

    summary: str = Field(max_length=SUMMARY_CHARS)
    key_points: list[Annotated[str, Field(max_length=KEY_POINT_CHARS)]] = Field(
        default_factory=list, max_length=MAX_KEY_POINTS
    )


class Citation(BaseModel):
    """A chunk the answer relies on; `quote` is a verbatim substring of the chunk's text."""

    chunk_id: str
    source: str = ""
    quote: str = ""
    inferred: bool = Field(
        False, description="True when the model named no chunk for the text: attributed by word overlap instead."
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
    entities: list[Entity] = Field(default_factory=list, max_length=MAX_ENTITIES)
    summary: Summary | None = None
    steps: list[StepUsage] = Field(default_factory=list)
    usage: Usage
    cost_usd: float = 0.0
    duration_ms: float = 0.0
