"""`genai-flow --help`, every `CMD --help`, argument errors and shell completion import nothing heavy.

Every command registered on the Typer app is found by walking the app, so commands added later are guarded too.
Each check runs in a fresh interpreter and reads `sys.modules` after the command returned.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from starter.cli.app import COMMANDS, app, commands_of

ROOT = Path(__file__).resolve().parent.parent

# What a command may import only when it runs (the list, plus the AWS SDK and the HTTP stacks under them).
HEAVY = (
    "temporalio",
    "openai",
    "redis",
    "chromadb",
    "fastapi",
    "uvicorn",
    "pydantic_settings",
    "rich",
    "boto3",
    "aioboto3",
    "botocore",
    "httpx",
)

# Runs `genai-flow ARGS` in-process (no os._exit), then reports the exit code, stdout and heavy modules loaded.
# It leaves with os._exit, as the console script's main() does: a probe that connected to Temporal would otherwise
# abort now and then at teardown ("PyGILState_Release ... finalizing", temporalio/sdk-python#300).
PROBE = """
import contextlib, io, json, os, sys
from starter.cli.app import app
out = io.StringIO()
code = 0
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
    try:
        app(sys.argv[2:], prog_name="genai-flow")
    except SystemExit as exc:
        code = exc.code or 0
heavy = json.loads(sys.argv[1])
print(json.dumps({"code": code, "out": out.getvalue(), "heavy": sorted(m for m in heavy if m in sys.modules)}))
sys.stdout.flush()
os._exit(0)
"""


def command_paths() -> list[tuple[str, ...]]:
    """Every command and group of the app, as argv prefixes (the root group is the empty tuple)."""
    found: list[tuple[str, ...]] = []

    def walk(command: object, path: tuple[str, ...]) -> None:
        found.append(path)
        for name, sub in (getattr(command, "commands", None) or {}).items():
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return found


def probe(*args: str, env: dict[str, str] | None = None, watch: tuple[str, ...] = HEAVY) -> dict[str, object]:
    """Run the CLI with args in a fresh interpreter; {code, out, heavy: the modules of `watch` it loaded}."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(watch), *args],
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "120", **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_the_walk_finds_every_command() -> None:
    paths = {" ".join(p) for p in command_paths()}
    assert {"", "up", "worker", "demo", "sim", "ask", "status", "result", "cancel", "jobs", "dlq", "dlq list"} <= paths
    assert "dlq replay" in paths


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "genai-flow")
def test_help_and_usage_errors_import_nothing_heavy(path: tuple[str, ...]) -> None:
    helped = probe(*path, "--help")
    assert helped["code"] == 0
    assert helped["heavy"] == [], f"`{' '.join(path)} --help` imported {helped['heavy']}"
    out = str(helped["out"])
    assert out.startswith("Usage: genai-flow") and "--help" in out
    assert "\x1b[" not in out and "╭" not in out, "help should be plain text, not rich panels"

    wrong = probe(*path, "--no-such-option")
    assert wrong["code"] == 2
    assert wrong["heavy"] == [], f"`{' '.join(path)} --no-such-option` imported {wrong['heavy']}"


@pytest.mark.parametrize(
    "args",
    [("status",), ("jobs", "--status", "bogus"), ("jobs", "--limit", "many"), ("no-such-command",)],
    ids=["missing argument", "bad enum", "bad number", "unknown command"],
)
def test_bad_arguments_exit_2_without_heavy_imports(args: tuple[str, ...]) -> None:
    result = probe(*args)
    assert result["code"] == 2
    assert result["heavy"] == []


def test_shell_completion_answers_without_heavy_imports() -> None:
    env = {"_GENAI_FLOW_COMPLETE": "complete_bash", "COMP_WORDS": "genai-flow jobs --status ", "COMP_CWORD": "3"}
    result = probe(env=env)
    assert result["code"] == 0
    assert str(result["out"]).split() == ["queued", "running", "awaiting_approval", "completed", "dead_lettered",
                                          "failed"]  # fmt: skip
    assert result["heavy"] == []


def test_completion_script_is_offered() -> None:
    result = probe("--show-completion", "bash")
    assert result["code"] == 0
    assert "_GENAI_FLOW_COMPLETE=complete_bash" in str(result["out"])


def test_the_client_imports_no_redis_until_it_follows_events() -> None:
    # `status`, `result` and `jobs` read Temporal only; the Redis client costs ~0.2 s of every such command.
    done = subprocess.run(
        [sys.executable, "-c", "import sys, starter.client; print(sorted(m for m in sys.modules if m == 'redis'))"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_command_table_names_each_module_s_own_commands() -> None:
    # The root group imports a command's module by this table: a name it maps wrongly would be "No such command".
    for module in set(COMMANDS.values()):
        assert list(commands_of(module)) == [name for name, owner in COMMANDS.items() if owner == module], module


# What `status` needs no part of: the other commands' modules, the schemas and price table of other pipelines, and
# the payload codec (cryptography) when no encryption keys are set. Each costs start-up time of every `status`.
NOT_FOR_STATUS = (
    *(f"starter.cli.{module}" for module in sorted(set(COMMANDS.values()) - {"cmd_jobs"})),
    "schemas.agent",
    "schemas.answer",
    "schemas.events",
    "schemas.inference",
    "schemas.ingest",
    "schemas.s3events",
    "runtime.pricing",
    "runtime.codec",
    "cryptography",
)


def test_status_imports_only_what_it_needs() -> None:
    # A refused port: the command gets as far as connecting (so the client and temporalio are loaded), then exits 5.
    env = {"TEMPORAL_ADDRESS": "127.0.0.1:9", "GENAI_FLOW_ENCRYPTION_KEYS": ""}
    result = probe("status", "answer-x", env=env, watch=(*NOT_FOR_STATUS, "starter.client", "temporalio.client"))
    assert result["code"] == 5
    assert result["heavy"] == ["starter.client", "temporalio.client"]
