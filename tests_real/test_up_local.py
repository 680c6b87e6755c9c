"""`genai-flow up` and `genai-flow demo` with GENAI_FLOW_LLM=local: real llama-server processes, then none left."""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path

import httpx
import psutil
import pytest

from runtime.processes import free_port
from tests.test_stack import BIN, ROOT, Up, _gone, _stack_env, up_runs  # noqa: F401 - up_runs is a fixture


def local_env(home: Path) -> dict[str, str]:
    """The stack on free ports, with the local backend on two more."""
    return {
        **_stack_env(home),
        "GENAI_FLOW_LLM": "local",
        "GENAI_FLOW_LOCAL_LLM_PORT": str(free_port()),
        "GENAI_FLOW_LOCAL_EMBED_PORT": str(free_port()),
    }


def llama_servers(run: Up) -> list[psutil.Process]:
    return [p for p in run.children() if p.name() == "llama-server"]


def test_up_starts_chat_and_embedding_llama_servers(tmp_path: Path, up_runs: list[Up]) -> None:  # noqa: F811
    env = local_env(tmp_path / "home")
    run = Up(env, tmp_path / "up.log")
    up_runs.append(run)
    run.wait_ready()
    out = run.output()
    assert "GENAI_FLOW_LLM=local" in out and "llama.cpp" in out
    servers = llama_servers(run)
    assert len(servers) == 2, out
    chat_url = f"http://127.0.0.1:{env['GENAI_FLOW_LOCAL_LLM_PORT']}/v1"
    embed_url = f"http://127.0.0.1:{env['GENAI_FLOW_LOCAL_EMBED_PORT']}/v1"
    assert [m["id"] for m in httpx.get(f"{chat_url}/models").json()["data"]] == ["smollm2-135m-instruct"]
    assert [m["id"] for m in httpx.get(f"{embed_url}/models").json()["data"]] == ["all-minilm-l6-v2"]
    vector = httpx.post(f"{embed_url}/embeddings", json={"input": "hello", "model": "all-minilm-l6-v2"}, timeout=60)
    assert len(vector.json()["data"][0]["embedding"]) == 384
    everything = run.children()
    assert run.interrupt(signal.SIGTERM) == 0
    assert not _gone(everything), "processes left behind"


@pytest.mark.timeout(1600)  # three questions over the project's docs on a 135M model, two CPU cores
def test_demo_answers_its_questions_on_the_real_models(tmp_path: Path) -> None:
    env = local_env(tmp_path / "home")
    done = subprocess.run(
        [str(BIN / "genai-flow"), "demo"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=1500
    )
    out = done.stdout + done.stderr
    print(out)  # the answers, for whoever runs `make test-real -s`
    assert done.returncode == 0, out
    # Three questions and the agent, each answer on a line of its own (a model's answer may itself say "A:").
    assert "llama.cpp" in out and len(re.findall(r"^A: ", out, re.MULTILINE)) == 4, out
    questions = out.split("Q: ")[1:]
    assert len(questions) == 3, out
    for block in questions:  # each answer printed with at least one citation line: "  [doc@tag#n] ... quote"
        assert re.search(r"^\s+\[[^\]\s]+#\d+\]", block, re.MULTILINE), block
