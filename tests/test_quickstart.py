"""The README's "three things to try", read from README.md and run as written on a fresh `genai-flow up` stack."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import time
from pathlib import Path

from starter.ingest_paths import IngestReport
from tests.test_stack import BIN, ROOT, Up, _stack_env


def readme_commands() -> list[str]:
    """Every `genai-flow …` command of the README's "three things to try" section, in order, as written."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Next: three things to try", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"`(genai-flow [^`]+)`", section)


def run(command: str, env: dict[str, str], timeout: float = 240) -> tuple[int, str]:
    """Run a README command from the clone's root, as a user in a second terminal would; (exit code, output)."""
    argv = shlex.split(command)
    done = subprocess.run(
        [str(BIN / argv[0]), *argv[1:]], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )
    return done.returncode, done.stdout + done.stderr


def test_the_readme_tries_work_as_written_on_a_fresh_stack(tmp_path: Path) -> None:
    commands = readme_commands()
    ingest, ask, agent, approve, _reject, doctor = commands
    assert ingest.startswith("genai-flow ingest ") and ask.startswith("genai-flow ask ") and approve.endswith(" JOB")
    up_env = _stack_env(tmp_path / "home")  # an empty GENAI_FLOW_HOME, every port random
    stack = Up(up_env, tmp_path / "up.log")
    # The second terminal shares the ports but not the state directory: the tries must not depend on it.
    env = {**up_env, "GENAI_FLOW_HOME": str(tmp_path / "second-terminal")}
    try:
        stack.wait_ready()

        # Asking before ingesting (tries out of order) says how to fill the collection, in words one can paste.
        code, out = run(ask, env)
        assert code == 1 and "`genai-flow ingest PATH --collection docs`" in " ".join(out.split()), out

        started = time.monotonic()
        code, out = run(ingest, env)
        took = time.monotonic() - started
        assert code == 0, out  # exit 3 had any document been dead-lettered
        # Every file is in the index: ingesting the folder again finds each one unchanged.
        code, out = run(f"{ingest} --json", env)
        report = IngestReport.model_validate_json(out)
        files = [p for p in (ROOT / "docs").iterdir() if p.is_file()]
        # Only the console's screenshots (docs/console/*.png) are passed over, each with its reason.
        assert all(i.path.endswith(".png") and "unsupported file type" in i.reason for i in report.ignored), out
        assert code == 0 and report.summary.unchanged == len(files), out
        print(f"README try 1 (`{ingest}`): {len(files)} documents indexed in {took:.1f} s")

        code, out = run(ask, env)
        assert code == 0 and re.search(r"\[[\w.-]+\.md@[0-9a-f]+#\d+\]", out), out  # answered, citing a page

        code, out = run(agent, env)
        assert code == 0 and "awaiting approval (depth limit)" in out, out  # paused after its first model call
        printed = re.search(r"genai-flow approve (agent-\S+)", out)
        assert printed, out
        code, out = run(approve.replace("JOB", printed.group(1)), env)
        assert code == 0, out
        code, out = run(f"genai-flow result {printed.group(1)} --json", env)
        assert code == 0 and json.loads(out)["result"]["outcome"] == "answered", out

        code, out = run(doctor, env)  # "Something not working?": on this healthy stack, nothing is
        assert code == 0, out
    finally:
        if stack.proc.poll() is None:
            stack.interrupt()
    assert "Traceback" not in stack.output()
