"""The local backend's chat model: SmolLM2 with a template that carries tools, or a GGUF of the user's own."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from launcher.chat_template import TEMPLATE, TEMPLATE_NAME
from launcher.plan import plan
from runtime.processes import ServiceError
from runtime.settings import load_settings
from tests.test_local_backend import local_env, write_manifest  # noqa: F401 - the same fixture


def chat_argv() -> list[str]:
    [chat] = [c for c in plan(load_settings()) if c.name == "model (llama.cpp chat)"]
    assert chat.process is not None
    return list(chat.process.argv)


def test_the_packaged_model_is_served_with_a_template_that_offers_tools(
    local_env: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GENAI_FLOW_LOCAL_CHAT_GGUF", raising=False)
    write_manifest(local_env)
    argv = chat_argv()
    template = Path(argv[argv.index("--chat-template-file") + 1])
    assert template == local_env / TEMPLATE_NAME and template.read_text() == TEMPLATE
    tools = [{"type": "function", "function": {"name": "search_documents", "parameters": {"type": "object"}}}]
    call = {"function": {"name": "search_documents", "arguments": '{"query": "tamarind"}'}}
    prompt = (
        jinja2.Environment()
        .from_string(TEMPLATE)
        .render(
            messages=[
                {"role": "system", "content": "You are an agent."},
                {"role": "user", "content": "Find the temperature."},
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "content": "[g#0] Tamarind House | 29 degrees Celsius"},
            ],
            tools=tools,
            add_generation_prompt=True,
        )
    )
    assert '"name": "search_documents"' in prompt and "<tools>" in prompt and "You are an agent." in prompt
    assert '<tool_call>\n{"name": "search_documents", "arguments": {"query": "tamarind"}}\n</tool_call>' in prompt
    assert "<tool_response>\n[g#0] Tamarind House | 29 degrees Celsius\n</tool_response>" in prompt
    assert prompt.endswith("<|im_start|>assistant\n")


def test_a_gguf_of_ones_own_replaces_the_packaged_model(
    local_env: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    write_manifest(local_env)
    mine = tmp_path / "qwen2.5-1.5b-instruct-q4_k_m.gguf"
    mine.write_bytes(b"GGUF")
    monkeypatch.setenv("GENAI_FLOW_LOCAL_CHAT_GGUF", str(mine))
    argv = chat_argv()
    assert argv[argv.index("--model") + 1] == str(mine) and "--chat-template-file" not in argv  # its own template
    monkeypatch.setenv("GENAI_FLOW_LOCAL_CHAT_GGUF", str(tmp_path / "missing.gguf"))
    with pytest.raises(ServiceError, match=r"GENAI_FLOW_LOCAL_CHAT_GGUF=.*missing\.gguf: no such file"):
        chat_argv()
