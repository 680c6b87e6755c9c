"""Structured-output schemas by name: `StructuredRequest.schema_name` picks the pydantic model a reply must match."""

from __future__ import annotations

from pydantic import BaseModel

from schemas.answer import EntityList, Summary

STRUCTURED_SCHEMAS: dict[str, type[BaseModel]] = {
    "summary": Summary,
    "entities": EntityList,
}
