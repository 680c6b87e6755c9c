"""Import arrows point down: every layer imports only the layers below it, and no module imports itself back.

The graph is built from the source with `ast` (imports inside functions and under TYPE_CHECKING count too), module by
module, so a lazy import cannot hide an arrow or a cycle. The layers are the folders of the README's architecture
table, with the client library (`starter/`) and the CLI built on it (`starter/cli/`) told apart.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("schemas", "runtime", "activities", "workflows", "sim", "workers", "starter", "gateway", "launcher")

# Module prefix -> layer (the longest prefix wins). `genai_flow` is the library's public façade and the CLI's entry.
LAYER_OF = {
    **{package: package for package in PACKAGES},
    "starter": "client",
    "starter.cli": "cli",
    "genai_flow": "client",
    "genai_flow.cli": "cli",
}
BELOW = ("schemas", "runtime")
# What each layer may import (the README's table). Anything else is an arrow up or sideways.
ALLOWED: dict[str, set[str]] = {
    "schemas": set(),
    "runtime": {"schemas"},
    "activities": {*BELOW},
    "workflows": {"schemas", "activities"},  # activity names and signatures only; never I/O clients
    "sim": {*BELOW},
    "workers": {*BELOW, "activities", "workflows"},
    "client": {*BELOW},
    "gateway": {*BELOW, "client"},
    "launcher": {*BELOW, "activities", "workflows", "sim", "workers", "client", "gateway"},
    "cli": {*BELOW, "activities", "workflows", "sim", "workers", "client", "gateway", "launcher"},
}


def our_modules() -> dict[str, Path]:
    """Every module of ours by import name (`starter.cli.app`; a package by its `__init__.py`)."""
    found: dict[str, Path] = {}
    for package in (*PACKAGES, "genai_flow"):
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = our_modules()


def _ours(name: str) -> str | None:
    """The module of ours that importing `name` loads (its longest known prefix), or None."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(name: str) -> set[str]:
    """Our modules that module `name` imports anywhere in its file (`from pkg import mod` names the module)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(t for alias in node.names if (t := _ours(alias.name)))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                target = _ours(f"{base}.{alias.name}") if f"{base}.{alias.name}" in MODULES else _ours(base)
                if target:
                    found.add(target)
    found.discard(name)
    return found


GRAPH = {name: imports_of(name) for name in MODULES}


def layer(name: str) -> str:
    """The layer of one of our modules."""
    prefix = max((p for p in LAYER_OF if name == p or name.startswith(p + ".")), key=len)
    return LAYER_OF[prefix]


def test_the_layers_themselves_form_a_stack() -> None:
    TopologicalSorter(ALLOWED).prepare()  # raises CycleError if two layers may import each other
    assert set(ALLOWED) == set(LAYER_OF.values())


def test_no_module_imports_a_layer_above_or_beside_its_own() -> None:
    violations = sorted(
        f"{name} ({layer(name)}) imports {target} ({layer(target)})"
        for name, targets in GRAPH.items()
        for target in targets
        if layer(target) != layer(name) and layer(target) not in ALLOWED[layer(name)]
    )
    assert not violations, "\n".join(violations)


def test_the_import_graph_has_no_cycle() -> None:
    try:
        TopologicalSorter(GRAPH).prepare()
    except CycleError as err:
        pytest.fail(f"import cycle: {' -> '.join(err.args[1])}")


def test_the_graph_sees_lazy_and_type_checking_imports() -> None:
    # Imports inside functions (the CLI's heavy ones) and under TYPE_CHECKING are arrows too.
    assert "gateway.app" in GRAPH["starter.cli.cmd_gateway"]
    assert "starter.cli.progress" in GRAPH["starter.cli.support"]
    assert "starter.ingestion" in GRAPH["starter.client"]
    assert {"starter.cli.support", "schemas.job_enums"} <= GRAPH["starter.cli.cmd_jobs"]
    assert layer("starter.cli.app") == "cli" and layer("starter.dlq") == "client" and layer("genai_flow") == "client"


def test_the_launcher_lives_above_runtime() -> None:
    assert not (ROOT / "runtime" / "stack.py").exists()
    assert "workers" in {layer(target) for target in GRAPH["launcher.plan"]}


# Prints every module the statement loaded.
PROBE = "import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"


@pytest.mark.parametrize(
    "statement",
    [
        "import gateway.app",
        "from genai_flow import GenAIFlowClient\nimport starter.dlq, starter.ingest_paths, starter.sqs",
    ],
)
def test_the_gateway_and_the_library_load_no_cli(statement: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(statement=statement)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.splitlines()[-1])
    assert "gateway.app" in loaded or "starter.client" in loaded
    cli = [m for m in loaded if m.split(".")[0] == "typer" or (m in MODULES and layer(m) == "cli")]
    assert cli == [], f"`{statement}` loaded {cli}"
