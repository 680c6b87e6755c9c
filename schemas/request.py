"""The base of every request body a caller sends: numbers must be numbers (one rule for every request model)."""

from __future__ import annotations

from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, model_validator
from pydantic_core import PydanticCustomError


def _numeric(annotation: Any) -> bool:
    """Whether a field holds an int or a float (optional ones included)."""
    if get_origin(annotation) in (Union, UnionType):
        return any(_numeric(arg) for arg in get_args(annotation))
    if get_origin(annotation) is Annotated:  # a shared field type (schemas/fields.py) inside an Optional
        return _numeric(get_args(annotation)[0])
    return annotation in (int, float)


class RequestModel(BaseModel):
    """A request body: pydantic's lax mode would read JSON `true` as the number 1; a caller's typo must be refused."""

    @model_validator(mode="before")
    @classmethod
    def _numbers_are_not_booleans(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, field in cls.model_fields.items():
                if isinstance(data.get(field.alias or name), bool) and _numeric(field.annotation):
                    raise PydanticCustomError("bool_not_number", f"{name}: must be a number, not true or false")
        return data
