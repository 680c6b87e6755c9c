"""Structured-output schemas by name: `StructuredRequest.schema_name` picks the pydantic model a reply must match.

The reply models bound every string and list. A server that enforces json_schema with a grammar (llama.cpp, vLLM,
the simulator) must then close each string and array within them, so a small model that loops inside a JSON string
ends its reply instead of running to max_tokens; replies over them fail validation like any other schema error. The
worst case (every string and list full) is what the local backend's max_tokens bounds are sized for. The bounds live
on these reply models only, not on the result models the workflows read (`schemas.answer`): a run recorded before a
bound changed must still replay.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from schemas.answer import Entity, EntityList, Summary

ENTITY_TEXT_CHARS = 80
ENTITY_TYPE_CHARS = 30
CHUNK_ID_CHARS = 120
MAX_ENTITIES = 10
SUMMARY_CHARS = 600
KEY_POINT_CHARS = 160
MAX_KEY_POINTS = 5

# Docstrings and titles as on the result models: they are the schema's descriptions and names the model reads.


class EntityReply(Entity):
    """A named thing found in the retrieved chunks."""

    model_config = ConfigDict(title="Entity")

    text: str = Field(max_length=ENTITY_TEXT_CHARS)
    type: str = Field(max_length=ENTITY_TYPE_CHARS)
    evidence_chunk_id: str = Field(max_length=CHUNK_ID_CHARS)


class EntityListReply(EntityList):
    """Structured output of extract_entities."""

    model_config = ConfigDict(title="EntityList")

    entities: list[EntityReply] = Field(default_factory=list, max_length=MAX_ENTITIES)  # type: ignore[assignment]


class SummaryReply(Summary):
    """Structured output of summarize."""

    model_config = ConfigDict(title="Summary")

    summary: str = Field(max_length=SUMMARY_CHARS)
    key_points: list[Annotated[str, Field(max_length=KEY_POINT_CHARS)]] = Field(
        default_factory=list, max_length=MAX_KEY_POINTS
    )


STRUCTURED_SCHEMAS: dict[str, type[BaseModel]] = {
    "summary": SummaryReply,
    "entities": EntityListReply,
}
