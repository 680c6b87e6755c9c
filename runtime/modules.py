"""Our modules' import names, for code that names them in strings (`python -m`, find_spec, sandbox pass-through).

In the repository (and its editable install) the packages are top-level (`starter.cli`); the built wheel ships them
under one `genai_flow` package (`genai_flow.starter.cli`, see hatch_build.py) so they cannot clash with a user's own
`workflows/` or `schemas/`. Import statements are rewritten at build time; strings go through `module()`.
"""

from __future__ import annotations

ROOT = __name__.removesuffix("runtime.modules")  # "" here, "genai_flow." in the wheel


def module(name: str) -> str:
    """The import name of our module `name` (e.g. `starter.cli`) in this installation."""
    return f"{ROOT}{name}"
