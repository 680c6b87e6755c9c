"""Import arrows point down: runtime (clients and settings) never imports the application above it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What each layer must never import (DESIGN.md's layout table).
FORBIDDEN = {
    "runtime": {"workers", "starter", "launcher", "gateway", "workflows", "activities", "sim"},
    "schemas": {"runtime", "workers", "starter", "launcher", "gateway", "workflows", "activities", "sim"},
    "workflows": {"runtime", "workers", "starter", "launcher", "gateway", "sim"},
    "activities": {"workers", "starter", "launcher", "gateway"},
    "workers": {"starter", "launcher", "gateway"},
    "gateway": {"workers", "launcher", "workflows", "activities", "sim"},
}


def imported_packages(path: Path) -> set[str]:
    """Top-level package names a module imports, at any depth in the file (lazy imports count too)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_layer_imports_upwards() -> None:
    violations = []
    for layer, forbidden in FORBIDDEN.items():
        files = sorted((ROOT / layer).rglob("*.py"))
        assert files, f"{layer}/ has no modules"
        for path in files:
            bad = imported_packages(path) & forbidden
            if bad:
                violations.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert not violations, "\n".join(violations)


def test_the_launcher_lives_above_runtime() -> None:
    assert not (ROOT / "runtime" / "stack.py").exists()
    assert "workers" in imported_packages(ROOT / "launcher" / "plan.py")
