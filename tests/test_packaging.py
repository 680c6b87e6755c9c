"""The installed wheel is collision-free: one `genai_flow` package, imports rewritten with ast, usable from a project
that has its own `workflows/` package — and the documented example runs there against a real Temporal."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import pytest
from temporalio.client import Client

from hatch_build import rewrite_imports
from tests.helpers import index_facts, private_settings, running_workers

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from schemas.jobs import JobInfo\n", "from genai_flow.schemas.jobs import JobInfo\n"),
        ("from schemas import queues as q, jobs\n", "from genai_flow.schemas import queues as q, jobs\n"),
        ("import schemas\n", "from genai_flow import schemas\n"),
        ("import schemas.jobs\n", "import genai_flow.schemas.jobs; from genai_flow import schemas\n"),
        ("import runtime.keys as k, os\n", "import genai_flow.runtime.keys as k; import os\n"),
        (
            "def f():\n    from starter import cli  # lazy\n",
            "def f():\n    from genai_flow.starter import cli  # lazy\n",
        ),
        (
            "from starter.client import (\n    A,  # first\n    B,\n)\nx = 1\n",
            "from genai_flow.starter.client import A, B\nx = 1\n",
        ),
        # Not ours, relative, or merely mentioning a name: untouched.
        ("import redis.asyncio\nfrom . import x\nfrom .schemas import y\n", None),
        ('s = "from schemas import x"  # import schemas\nmode = "sim"\n', None),
        ("from simple import x\nimport runtimes\n", None),
    ],
)
def test_imports_of_our_packages_move_under_genai_flow(source: str, expected: str | None) -> None:
    assert rewrite_imports(source) == (source if expected is None else expected)


def _uv() -> list[str]:
    """uv as scripts/bootstrap.sh finds it (on PATH, in the user's bin, or as a module of the machine's Python)."""
    for candidate in (shutil.which("uv"), str(Path.home() / ".local" / "bin" / "uv")):
        if candidate and Path(candidate).exists():
            return [candidate]
    return ["python3", "-m", "uv"]


def _example_from_docs() -> str:
    text = (ROOT / "docs" / "python-client.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    runnable = [b for b in blocks if "asyncio.run(main())" in b]
    assert len(runnable) == 1, "docs/python-client.md has one complete example"
    return runnable[0]


def _run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env, **kwargs)  # type: ignore[call-overload]


async def test_a_user_project_with_its_own_workflows_installs_the_wheel_and_runs_the_documented_example(
    servers: dict[str, str], client: Client, unique: str, tmp_path: Path
) -> None:
    uv = _uv()
    built = await asyncio.to_thread(_run, [*uv, "build", "--wheel", "-o", str(tmp_path / "dist"), str(ROOT)])
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next((tmp_path / "dist").glob("genai_flow-*.whl"))
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert tops == {"genai_flow", wheel.name.split("-py3")[0] + ".dist-info"}, tops

    venv = tmp_path / "venv"
    made = await asyncio.to_thread(_run, [*uv, "venv", "-q", "--python", sys.executable, str(venv)])
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    installed = await asyncio.to_thread(_run, [*uv, "pip", "install", "-q", "--python", str(python), str(wheel)])
    assert installed.returncode == 0, installed.stderr[-3000:]

    # The user's project: its own `workflows` and `activities` packages, and the example from the docs.
    project = tmp_path / "project"
    for package in ("workflows", "activities"):
        (project / package).mkdir(parents=True)
        (project / package / "__init__.py").write_text(f"OWNER = 'user {package}'\n")
    (project / "example.py").write_text(_example_from_docs())
    (project / "check.py").write_text(
        "import workflows, activities, genai_flow.workflows.answer as ours\n"
        "assert workflows.OWNER == 'user workflows' and activities.OWNER == 'user activities'\n"
        "assert ours.__name__ == 'genai_flow.workflows.answer'\n"
        "print('ok')\n"
    )
    # Nothing of the repository may leak in: run from the project, with a clean environment.
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        **{k: v for k, v in servers.items() if k.isupper()},
        "GENAI_FLOW_TASK_QUEUE_PREFIX": f"t{unique}-",
        "GENAI_FLOW_KEY_PREFIX": f"t{unique}",
        "COLLECTION": f"facts-{unique}",
        "RUN_KEY": f"docs-{uuid.uuid4().hex}",
    }
    checked = await asyncio.to_thread(
        subprocess.run, [str(python), "check.py"], cwd=project, env=env, capture_output=True, text=True, timeout=120
    )
    assert checked.returncode == 0 and checked.stdout.strip() == "ok", checked.stderr[-3000:]
    helped = await asyncio.to_thread(
        subprocess.run,
        [str(venv / "bin" / "genai-flow"), "--help"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert helped.returncode == 0 and "gateway" in helped.stdout, helped.stderr[-3000:]

    settings = private_settings(unique)
    await index_facts(tmp_path / "corpus", f"facts-{unique}", settings)
    async with running_workers(client, settings):
        ran = await asyncio.to_thread(
            subprocess.run,
            [str(python), "example.py"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
    assert ran.returncode == 0, ran.stdout + ran.stderr[-3000:]
    assert "new)" in ran.stdout and "generate_answer done" in ran.stdout
    answer = re.search(r"^answer: (.*)$", ran.stdout, flags=re.M)
    streamed = re.search(r"^streamed: (.*)$", ran.stdout, flags=re.M)
    assert answer and streamed and answer.group(1) == streamed.group(1) and "Amelia Hartwell" in answer.group(1)
    assert "zephyr.md" in re.search(r"^citations: (.*)$", ran.stdout, flags=re.M).group(1)  # type: ignore[union-attr]
