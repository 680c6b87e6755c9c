"""Field rules for the free text people type: a question, an agent's task (one rule, used by every request model)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError


def not_blank(value: str) -> str:
    """Refuse text that is empty or only whitespace: there is nothing to answer or do."""
    if not value.strip():
        raise PydanticCustomError("blank_text", "must contain text, not only whitespace")
    return value


Question = Annotated[str, Field(min_length=1, max_length=8000), AfterValidator(not_blank)]
"""A question to answer from the documents."""

Task = Annotated[str, Field(min_length=1, max_length=20_000), AfterValidator(not_blank)]
"""An agent's task."""
