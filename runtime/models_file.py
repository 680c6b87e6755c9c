"""Reading GENAI_FLOW_MODELS_FILE: YAML into `schemas.models_file.ModelsFile`, errors naming the field.

Settings validate it when they load, so `up`, `worker`, `doctor` and every CLI command refuse a bad file at start
(exit 2) with a message such as `GENAI_FLOW_MODELS_FILE models.yaml: endpoints.primary.tpm: Input should be greater
than 0 (got -5)`.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from schemas.models_file import ModelsFile

SETTING = "GENAI_FLOW_MODELS_FILE"


class ModelsFileError(ValueError):
    """The models file cannot be read or is invalid; the message names the file and the field."""


def _where(loc: Iterable[int | str]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def parse_models(text: str, source: str = "models file") -> ModelsFile:
    """A ModelsFile from YAML text; ModelsFileError names the first bad field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ModelsFileError(f"{source}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ModelsFileError(f"{source}: expected a mapping with `endpoints` and `models`")
    try:
        return ModelsFile.model_validate(data)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        msg = first["msg"].removeprefix("Value error, ")
        got = f" (got {first['input']!r})" if first["type"] != "value_error" and "input" in first else ""
        where = "" if msg.startswith(("endpoints.", "models.")) else f"{_where(first['loc'])}: "
        more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
        raise ModelsFileError(f"{source}: {where}{msg}{got}{more}") from None


@lru_cache(maxsize=8)
def _load(path: Path, mtime_ns: int) -> ModelsFile:
    return parse_models(path.read_text(encoding="utf-8"), str(path))


def load_models(path: Path, required: Iterable[str] = ()) -> ModelsFile:
    """The models file at path (cached until it changes); every `required` model must be listed in it."""
    try:
        models = _load(path, path.stat().st_mtime_ns)
    except OSError as err:
        raise ModelsFileError(f"{path}: cannot read: {err.strerror or err}") from None
    for name in required:
        if name not in models.models:
            listed = ", ".join(sorted(models.models))
            raise ModelsFileError(
                f"{path}: models: no entry for {name!r}, which this deployment uses (listed: {listed})"
            )
    return models
