"""Which request model each pipeline's workflow takes (pipelines add themselves here)."""

from __future__ import annotations

from pydantic import BaseModel

from schemas.agent import AgentRequest
from schemas.answer import AnswerRequest
from schemas.ingest import IngestRequest
from schemas.jobs import Pipeline

REQUEST_MODELS: dict[Pipeline, type[BaseModel]] = {
    Pipeline.ANSWER: AnswerRequest,
    Pipeline.INGEST: IngestRequest,
    Pipeline.AGENT: AgentRequest,
}


def request_model(pipeline: Pipeline) -> type[BaseModel]:
    """The request model of a pipeline, or a ValueError naming the pipelines that exist."""
    try:
        return REQUEST_MODELS[pipeline]
    except KeyError:
        known = ", ".join(p.value for p in REQUEST_MODELS)
        raise ValueError(f"pipeline {pipeline.value!r} has no request model yet (known: {known})") from None
