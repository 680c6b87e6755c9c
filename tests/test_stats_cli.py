"""`genai-flow stats`: `--json` matches the schema documented in docs/observability.md; the dashboard renders;
bad options and unreachable servers give exit codes, not tracebacks."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from runtime.processes import free_port
from schemas.stats import StatsSnapshot

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "genai-flow")
DOC = ROOT / "docs" / "observability.md"


def documented_schema() -> dict[str, Any]:
    """The JSON Schema block between the stats-schema markers of docs/observability.md."""
    match = re.search(
        r"<!-- stats-schema:begin -->\s*```json\n(.*?)\n```\s*<!-- stats-schema:end -->", DOC.read_text(), re.S
    )
    assert match, "docs/observability.md lost its stats schema block"
    schema: dict[str, Any] = json.loads(match.group(1))
    return schema


def stats(servers: dict[str, str], unique: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `genai-flow stats` on this test's own queue prefix and keys."""
    return subprocess.run(
        [CLI, "stats", *args],
        env={
            **os.environ,
            **{k: v for k, v in servers.items() if k.isupper()},
            "GENAI_FLOW_TASK_QUEUE_PREFIX": f"s{unique}-",
            "GENAI_FLOW_KEY_PREFIX": f"s{unique}",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_documented_schema_is_the_model_schema() -> None:
    assert documented_schema() == StatsSnapshot.model_json_schema()


def test_json_output_matches_the_documented_schema(servers: dict[str, str], unique: str) -> None:
    done = stats(servers, unique, "--json", "--window", "5")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    jsonschema.validate(data, documented_schema())
    assert data["task_queue_prefix"] == f"s{unique}-" and data["window_minutes"] == 5
    assert [p["pipeline"] for p in data["pipelines"]] == ["answer", "ingest", "agent"]
    assert all(p["in_flight"] == 0 and p["p50_s"] is None for p in data["pipelines"])
    rows = {(q["task_queue"], q["task_type"]) for q in data["queues"]}
    assert rows == {
        (f"s{unique}-genai-workflows", "workflow"),
        (f"s{unique}-genai-inference", "activity"),
        (f"s{unique}-genai-io", "activity"),
    }
    assert data["errors"] == [] and data["workers"] == [] and data["dead_lettered"] == 0


def test_dashboard_renders(servers: dict[str, str], unique: str) -> None:
    done = stats(servers, unique, COLUMNS="160")
    assert done.returncode == 0, done.stderr
    for title in ("Task queues", "Jobs (closed in the last 15 min)", "Tokens and cost per model", "Worker slots"):
        assert title in done.stdout
    assert f"s{unique}-genai-workflows" in done.stdout and "pending approvals" in done.stdout


@pytest.mark.parametrize("args", [("--window", "0"), ("--interval", "0.1"), ("--nope",)])
def test_bad_options_are_usage_errors(servers: dict[str, str], unique: str, args: tuple[str, ...]) -> None:
    done = stats(servers, unique, *args)
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_unreachable_temporal_exits_5(servers: dict[str, str], unique: str) -> None:
    done = stats(servers, unique, "--json", TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}")
    assert done.returncode == 5, done.stderr
    assert "cannot reach Temporal" in done.stderr and "Traceback" not in done.stderr


def test_watch_json_prints_a_snapshot_per_interval_until_interrupted(servers: dict[str, str], unique: str) -> None:
    env = {
        **os.environ,
        **{k: v for k, v in servers.items() if k.isupper()},
        "GENAI_FLOW_TASK_QUEUE_PREFIX": f"w{unique}-",
        "GENAI_FLOW_KEY_PREFIX": f"w{unique}",
    }
    proc = subprocess.Popen(
        [CLI, "stats", "--watch", "--json", "--interval", "0.5"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    lines = [proc.stdout.readline(), proc.stdout.readline()]  # blocks until two snapshots were printed
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    snaps = [StatsSnapshot.model_validate_json(line) for line in lines]
    assert snaps[1].generated_at > snaps[0].generated_at
