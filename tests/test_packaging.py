"""The installed wheel is collision-free: one `genai_flow` package, imports rewritten with ast, usable from a project
that has its own `workflows/` package — and every Python block of docs/python-client.md runs there against a real
Temporal (the two complete examples, and the import lines)."""

from __future__ import annotations

import ast
import asyncio
import os
import re
import shutil
import subprocess
import sys
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client

from hatch_build import rewrite_imports
from tests.helpers import index_facts, private_settings, running_workers
from tests.test_ingest_events import ZEPHYR

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


def _python_blocks() -> list[str]:
    text = (ROOT / "docs" / "python-client.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def _example_from_docs(name: str) -> str:
    """The complete script whose first line (its docstring) mentions `name`."""
    runnable = [b for b in _python_blocks() if "asyncio.run(main())" in b]
    assert len(runnable) == 2, "docs/python-client.md has two complete examples"
    (found,) = [b for b in runnable if name in b.splitlines()[0]]
    return found


def _import_blocks_from_docs() -> str:
    """Every Python block of the page that is not a complete script: each must be imports only (check.py runs them)."""
    blocks = [b for b in _python_blocks() if "asyncio.run(main())" not in b]
    for block in blocks:
        assert all(isinstance(s, ast.Import | ast.ImportFrom) for s in ast.parse(block).body), block
    return "".join(blocks)


def _run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env, **kwargs)  # type: ignore[call-overload]


@dataclass
class UserProject:
    """A user's project with its own `workflows/` and `activities/`, and the wheel installed into its venv."""

    dir: Path
    venv: Path
    servers: dict[str, str]

    def env(self, unique: str, **extra: str) -> dict[str, str]:
        """A clean environment (nothing of the repository leaks in) with this test's own queues and keys."""
        return {
            "PATH": f"{self.venv / 'bin'}:/usr/bin:/bin",
            "HOME": str(self.dir.parent),
            **{k: v for k, v in self.servers.items() if k.isupper()},
            "GENAI_FLOW_TASK_QUEUE_PREFIX": f"t{unique}-",
            "GENAI_FLOW_KEY_PREFIX": f"t{unique}",
            **extra,
        }

    async def run(self, argv: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run argv in the project directory (its python is `python`)."""
        argv = [str(self.venv / "bin" / argv[0]), *argv[1:]]
        return await asyncio.to_thread(
            subprocess.run, argv, cwd=self.dir, env=env, capture_output=True, text=True, timeout=timeout
        )


@pytest_asyncio.fixture(scope="module")
async def user_project(servers: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> UserProject:
    """Build the wheel, install it into a scratch venv, lay out the user's project with the documented examples."""
    tmp_path = tmp_path_factory.mktemp("user-project")
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

    project = tmp_path / "project"
    for package in ("workflows", "activities"):
        (project / package).mkdir(parents=True)
        (project / package / "__init__.py").write_text(f"OWNER = 'user {package}'\n")
    (project / "answer_example.py").write_text(_example_from_docs("Ask a question"))
    (project / "agent_example.py").write_text(_example_from_docs("Ingest a document"))
    (project / "check.py").write_text(
        "import workflows, activities, genai_flow.workflows.answer as ours\n"
        "assert workflows.OWNER == 'user workflows' and activities.OWNER == 'user activities'\n"
        "assert ours.__name__ == 'genai_flow.workflows.answer'\n"
        "import genai_flow\n"
        "exports = [getattr(genai_flow, name) for name in genai_flow.__all__]  # every lazy export resolves\n"
        + _import_blocks_from_docs()
        + "print('ok')\n"
    )
    return UserProject(project, venv, servers)


async def test_a_user_project_with_its_own_workflows_installs_the_wheel_collision_free(
    user_project: UserProject, unique: str
) -> None:
    env = user_project.env(unique)
    checked = await user_project.run(["python", "check.py"], env)
    assert checked.returncode == 0 and checked.stdout.strip() == "ok", checked.stderr[-3000:]
    helped = await user_project.run(["genai-flow", "--help"], env)
    assert helped.returncode == 0 and "gateway" in helped.stdout, helped.stderr[-3000:]


async def test_the_documented_answer_example_runs_in_the_user_project(
    user_project: UserProject, client: Client, unique: str, tmp_path: Path
) -> None:
    env = user_project.env(unique, COLLECTION=f"facts-{unique}", RUN_KEY=f"docs-{uuid.uuid4().hex}")
    settings = private_settings(unique)
    await index_facts(tmp_path / "corpus", f"facts-{unique}", settings)
    async with running_workers(client, settings):
        ran = await user_project.run(["python", "answer_example.py"], env, timeout=180)
    assert ran.returncode == 0, ran.stdout + ran.stderr[-3000:]
    assert "new)" in ran.stdout and "generate_answer done" in ran.stdout
    answer = re.search(r"^answer: (.*)$", ran.stdout, flags=re.M)
    streamed = re.search(r"^streamed: (.*)$", ran.stdout, flags=re.M)
    assert answer and streamed and answer.group(1) == streamed.group(1) and "Amelia Hartwell" in answer.group(1)
    assert "zephyr.md" in re.search(r"^citations: (.*)$", ran.stdout, flags=re.M).group(1)  # type: ignore[union-attr]


async def test_the_documented_ingest_and_agent_example_runs_in_the_user_project(
    user_project: UserProject, client: Client, unique: str, tmp_path: Path
) -> None:
    doc = tmp_path / "zephyr.md"
    doc.write_text(ZEPHYR)
    env = user_project.env(
        unique,
        DOC=str(doc),
        COLLECTION=f"agent-docs-{unique}",
        TASK=f"Research the Zephyr reactor [[sim:toolloop#{unique}]]",  # calls tools until it is held
    )
    async with running_workers(client, private_settings(unique)):
        ran = await user_project.run(["python", "agent_example.py"], env, timeout=180)
    out = ran.stdout
    assert ran.returncode == 0, out + ran.stderr[-3000:]
    assert re.search(r"^ingest ingest-\S+ \(started\)$", out, flags=re.M), out
    assert re.search(r"^  extract_text: \S+: completed$", out, flags=re.M), out
    assert re.search(r"^ingested: indexed, [1-9]\d* chunks$", out, flags=re.M), out
    assert re.search(r"^paused \(depth\): \S", out, flags=re.M) and "approved: depth 1 of 2" in out, out
    events = re.findall(r"^  event (\S+)$", out, flags=re.M)
    assert events == ["awaiting_approval", "approved", "awaiting_approval", "rejected"], out
    assert "agent: rejected after 2 model calls" in out, out
    assert "decisions: [('approve', 'me'), ('reject', 'me')]" in out and "answer: enough" in out, out
