"""Hatch build hook: the wheel ships our packages under ONE top-level package, `genai_flow`, so they cannot clash.

The repository keeps the design card's top-level layout (`workflows/`, `activities/`, `schemas/`, …) and its editable
install puts the repository root on sys.path, as before. A user's project has its own `workflows/` or `schemas/`
packages, though: a wheel that installed ours at the top level would shadow theirs (or be shadowed). So the built
wheel holds `genai_flow/<package>/…`, and every import of one of our packages is rewritten to match — with the
`ast` module, statement by statement, never a text search (a string or a comment that mentions `schemas.` is left
alone). Code that names our modules in strings goes through `runtime.modules.module()` instead.
"""

from __future__ import annotations

import ast
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

FACADE = "genai_flow"
PACKAGES = ("workflows", "activities", "workers", "launcher", "starter", "gateway", "schemas", "runtime", "sim")
SKIP_DIRS = {"__pycache__"}


def _ours(name: str) -> bool:
    return name.split(".")[0] in PACKAGES


def _rewritten(node: ast.stmt) -> str | None:
    """The replacement text of one import statement, or None when it imports nothing of ours."""
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and _ours(node.module):
        return ast.unparse(ast.ImportFrom(module=f"{FACADE}.{node.module}", names=node.names, level=0))
    if not isinstance(node, ast.Import) or not any(_ours(a.name) for a in node.names):
        return None
    parts = []
    for alias in node.names:
        if not _ours(alias.name):
            parts.append(ast.unparse(ast.Import(names=[alias])))
        elif alias.asname:
            parts.append(f"import {FACADE}.{alias.name} as {alias.asname}")
        elif "." not in alias.name:
            parts.append(f"from {FACADE} import {alias.name}")
        else:
            # `import schemas.jobs` binds `schemas` and loads the submodule: do both under the facade.
            parts.append(f"import {FACADE}.{alias.name}; from {FACADE} import {alias.name.split('.')[0]}")
    return "; ".join(parts)


def rewrite_imports(source: str, filename: str = "<module>") -> str:
    """`source` with every absolute import of our packages moved under `genai_flow.` (other text untouched)."""
    tree = ast.parse(source, filename=filename)
    edits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and (text := _rewritten(node)) is not None:
            edits.append((node, text))
    lines = source.splitlines(keepends=True)
    # Right to left, bottom to top: earlier offsets stay valid while later text changes.
    for node, text in sorted(edits, key=lambda e: (e[0].lineno, e[0].col_offset), reverse=True):
        start, end = node.lineno - 1, (node.end_lineno or node.lineno) - 1
        prefix = lines[start][: node.col_offset]
        suffix = lines[end][node.end_col_offset :]
        lines[start : end + 1] = [prefix + text + suffix]
    result = "".join(lines)
    ast.parse(result, filename=filename)  # the rewrite must still be valid Python
    return result


def build_tree(root: Path, target: Path) -> None:
    """Write `target/genai_flow/…`: the facade's modules and each package beneath it, imports rewritten."""
    out = target / FACADE
    for package in (FACADE, *PACKAGES):
        source_dir = root / package
        dest_dir = out if package == FACADE else out / package
        for path in sorted(source_dir.rglob("*")):
            relative = path.relative_to(source_dir)
            if path.is_dir() or SKIP_DIRS & set(relative.parts) or path.suffix in (".pyc", ".pyo"):
                continue
            dest = dest_dir / relative
            dest.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix == ".py":
                dest.write_text(rewrite_imports(path.read_text(encoding="utf-8"), str(path)), encoding="utf-8")
            else:
                shutil.copy2(path, dest)


class GenAIFlowBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    """Ships `genai_flow/` (rewritten) in standard wheels; editable installs keep the repository layout."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Generate the rewritten tree and include it as `genai_flow/`."""
        if self.target_name != "wheel" or version == "editable":
            return
        self._staging = Path(tempfile.mkdtemp(prefix="genai-flow-wheel-"))
        build_tree(Path(self.root), self._staging)
        build_data["force_include"][str(self._staging / FACADE)] = FACADE

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        """Remove the staging tree."""
        staging = getattr(self, "_staging", None)
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
