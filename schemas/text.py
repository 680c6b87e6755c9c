"""Field rules for the free text people type: a question, an agent's task (one rule, used by every request model)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

# Some text: at least one letter or digit (in any script). The schema states the pattern, so generated clients and
# fuzzers know that blank text is refused; the validator gives the reason in words.
_WORD = r"\w"
_SOME_TEXT: dict[str, Any] = {"pattern": _WORD}


def not_blank(value: str) -> str:
    """Refuse text with no letter or digit (empty, whitespace, control characters): there is nothing to answer or do."""
    if not re.search(_WORD, value):
        raise PydanticCustomError("blank_text", "must contain text, not only whitespace")
    return value

Question = Annotated[str, Field(min_length=1, max_length=8000, json_schema_extra=_SOME_TEXT), AfterValidator(not_blank)]
"""A question to answer from the documents."""

Task = Annotated[str, Field(min_length=1, max_length=20_000, json_schema_extra=_SOME_TEXT), AfterValidator(not_blank)]
"""An agent's task."""
