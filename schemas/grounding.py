"""The grounding check's shapes: each answer sentence's verdict against its sources, and the answer's."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class Verdict(StrEnum):
    """How a sentence stands against the chunks it cites and the retrieved context."""

    SUPPORTED = "supported"  # every number, date, quantity and name it states is in its sources
    UNSUPPORTED = "unsupported"  # it states something no retrieved chunk holds, or rests on no chunk at all
    CONTRADICTED = "contradicted"  # a value differs from the value of the same kind in its cited quote


class AnswerVerdict(StrEnum):
    """The answer's overall standing."""

    SUPPORTED = "supported"  # every sentence supported
    PARTLY_SUPPORTED = "partly_supported"  # some sentences unsupported, none contradicted
    CONTRADICTED = "contradicted"  # at least one sentence contradicts its cited quote
    NOT_IN_DOCUMENTS = "not_in_documents"  # nothing relevant retrieved, nothing supported, or the model said so


class Conflict(BaseModel):
    """A value of the answer and the differing value of the same kind in the quote it cites."""

    kind: str = Field(description="year, number or name")
    stated: str
    found: str
    chunk_id: str
    quote: str


class SentenceCheck(BaseModel):
    """One answer sentence, its verdict and why."""

    text: str
    verdict: Verdict
    values: list[str] = Field(default_factory=list, description="Numbers, dates, quantities and names it states.")
    missing: list[str] = Field(default_factory=list, description="Values no retrieved chunk holds.")
    conflict: Conflict | None = None
    cited: list[str] = Field(default_factory=list, description="Chunk ids kept as its evidence (supported only).")


class Grounding(BaseModel):
    """The grounding check of an answer: per-sentence verdicts, an overall verdict and a score."""

    verdict: AnswerVerdict
    score: float = Field(ge=0, le=1, description="Share of the answer's sentences that are supported.")
    sentences: list[SentenceCheck] = Field(default_factory=list)
    reason: str | None = Field(None, description="Why the answer says the documents do not contain it.")
    model_answer: str | None = Field(None, description="The model's own text, when the answer was replaced.")
    best_score: float | None = Field(None, description="Retrieval score of the best chunk.")
    score_floor: float | None = Field(None, description="Below this best score nothing retrieved is relevant.")
    trimmed: bool = Field(False, description="A run-on (an invented follow-up turn) was cut from the answer.")
    entities_repaired: int = Field(0, ge=0, description="Entities moved to the chunk holding their text.")
    entities_dropped: int = Field(0, ge=0, description="Entities dropped: no retrieved chunk holds their text.")
